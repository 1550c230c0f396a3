//! Unit tests of the pre-join checks: the pure judges with inputs that must pass and must fail, the
//! `/proc/net/tcp` parser over captured text, and the whole run over a fake [`Probe`].

#![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;

const MEMBER_ADDR: &str = "10.0.0.5";

fn member(node: &str) -> Named<'_> {
    Named {
        node,
        addr: MEMBER_ADDR.parse().unwrap(),
    }
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[test]
fn clock_skew_allows_for_the_round_trip() {
    // The member's clock was read somewhere between sent and received.
    assert_eq!(clock_skew_ms(5_000, 5_000, 5_000), 0);
    assert_eq!(
        clock_skew_ms(5_500, 5_000, 6_000),
        0,
        "within the round trip"
    );
    assert_eq!(clock_skew_ms(6_000, 5_000, 6_000), 0, "at its end");
    assert_eq!(clock_skew_ms(7_000, 5_000, 6_000), 1_000);
    assert_eq!(clock_skew_ms(3_000, 5_000, 6_000), 2_000, "behind");
    // An odd round trip keeps its exact middle; a clock stepped back during it counts as a round trip.
    assert_eq!(clock_skew_ms(7_001, 5_000, 6_001), 1_000);
    assert_eq!(clock_skew_ms(10_000, 6_000, 5_000), 4_000);
    // No overflow at the ends.
    assert_eq!(clock_skew_ms(u64::MAX, 0, 0), u64::MAX);
    assert_eq!(clock_skew_ms(0, u64::MAX, u64::MAX), u64::MAX);
}

#[test]
fn a_clock_more_than_a_second_away_is_refused_either_way() {
    let m = member("node1");
    // Exactly 1 s apart passes; a millisecond more does not.
    assert_eq!(judge_clock(m, 11_000, at(10_000), at(10_000)), None);
    let ahead = judge_clock(m, 11_001, at(10_000), at(10_000)).unwrap();
    assert_eq!(ahead.id, CheckId::ClockSkew);
    assert!(ahead.message.contains("member node1 (10.0.0.5)"), "{ahead}");
    assert!(ahead.message.contains("at least 1.0 s ahead of"), "{ahead}");
    let behind = judge_clock(m, 0, at(600_000), at(600_100)).unwrap();
    assert!(behind.message.contains("600.0 s behind"), "{behind}");
    // A slow answer widens the allowance: 3 s away, but the round trip took 4 s.
    assert_eq!(judge_clock(m, 15_000, at(10_000), at(14_000)), None);
}

#[test]
fn another_image_version_is_refused() {
    assert_eq!(judge_version(member("node1"), "0.1.0", "0.1.0"), None);
    let f = judge_version(member("node1"), "0.0.1", "0.1.0").unwrap();
    assert_eq!(f.id, CheckId::VersionMismatch);
    assert!(
        f.message
            .starts_with("member node1 (10.0.0.5) runs image version 0.0.1, this node 0.1.0"),
        "{f}"
    );
}

#[test]
fn names_must_resolve_to_the_member_and_this_nodes_must_be_acceptable() {
    let m = member("node1");
    let here: IpAddr = MEMBER_ADDR.parse().unwrap();
    let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
    let other: IpAddr = "10.0.0.9".parse().unwrap();
    // Passing: the member's address among those resolved (an IPv4-mapped one counts).
    assert_eq!(judge_names(m, &Ok(vec![other, here]), "node-2"), vec![]);
    assert_eq!(judge_names(m, &Ok(vec![mapped]), "node-2"), vec![]);
    // Must fail, each naming the member.
    let cases: &[(Resolved, &str, &str)] = &[
        (
            Err("Name or service not known".to_owned()),
            "node-2",
            "does not resolve here",
        ),
        (
            Ok(vec![other]),
            "node-2",
            "resolves here to 10.0.0.9, not to",
        ),
        (Ok(vec![]), "node-2", "resolves here to nothing"),
        (Ok(vec![here]), "Node_2", "would be refused by member node1"),
        (Ok(vec![here]), "", "would be refused"),
        (Ok(vec![here]), "node1", "has the name of member node1"),
    ];
    for (resolved, own, says) in cases {
        let found = judge_names(m, resolved, own);
        assert_eq!(found.len(), 1, "{own:?} {resolved:?}: {found:?}");
        assert_eq!(found[0].id, CheckId::NameResolution);
        assert!(found[0].message.contains(says), "{}", found[0]);
        assert!(found[0].message.contains("node1"), "{}", found[0]);
    }
    // Both at once: both listed.
    let both = judge_names(m, &Err("no".to_owned()), "node1");
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both[1]
            .message
            .contains("add `10.0.0.5 node1` to /etc/hosts")
    );
}

#[test]
fn a_port_the_member_listens_on_must_connect() {
    use PortOutcome::*;
    let failed = Failed("No route to host".to_owned());
    for outcome in [&Open, &Refused, &TimedOut, &failed] {
        assert_eq!(port_verdict(false, outcome), Ok(()), "{outcome:?}");
    }
    assert_eq!(port_verdict(true, &Open), Ok(()));
    for (outcome, says) in [
        (&Refused, "refused although the member listens"),
        (&TimedOut, "no answer within 2 s"),
        (&failed, "No route to host"),
    ] {
        let why = port_verdict(true, outcome).unwrap_err();
        assert!(why.contains(says), "{why}");
    }
    let found = judge_ports(
        member("node1"),
        &[3306, 4567, 5671],
        &[
            (3306, Open),
            (4567, TimedOut),
            (5671, Refused),
            (4444, TimedOut),
        ],
    );
    let ids: Vec<_> = found.iter().map(|f| f.id).collect();
    assert_eq!(ids, [CheckId::PortUnreachable, CheckId::PortUnreachable]);
    assert!(
        found[0]
            .message
            .starts_with("TCP port 4567 (Galera replication) of member node1 (10.0.0.5)"),
        "{}",
        found[0]
    );
    assert!(found[1].message.contains("5671 (RabbitMQ AMQP over TLS)"));
}

#[test]
fn the_ping_payload_leaves_room_for_the_headers() {
    let v4: IpAddr = "10.0.0.5".parse().unwrap();
    let v6: IpAddr = "fd00::5".parse().unwrap();
    assert_eq!(ping_payload(1500, v4), Some(1472));
    assert_eq!(ping_payload(9000, v4), Some(8972));
    assert_eq!(ping_payload(1500, v6), Some(1452));
    assert_eq!(
        ping_payload(1500, "::ffff:10.0.0.5".parse().unwrap()),
        Some(1472)
    );
    assert_eq!(ping_payload(28, v4), None);
    assert_eq!(ping_payload(0, v6), None);
}

/// Captured from a Debian 12 host: sshd on 0.0.0.0:22, MariaDB on 0.0.0.0:3306, Galera on
/// 0.0.0.0:4567, a resolver on 127.0.0.53:53, memcached on 127.0.0.1:11211 only, one connection.
const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18426 1 0000000000000000 100 0 0 10 0
   1: 00000000:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23881 1 0000000000000000 100 0 0 10 0
   2: 00000000:11D7 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23884 1 0000000000000000 100 0 0 10 0
   3: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 17020 1 0000000000000000 100 0 0 10 5
   4: 0100007F:2BCB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 21977 1 0000000000000000 100 0 0 10 0
   5: 0500000A:0CEA 0600000A:B2C4 01 00000000:00000000 02:0006A2B1 00000000   106        0 24011 2 0000000000000000 20 4 30 10 -1
";

/// The IPv6 table of the same host: RabbitMQ on [::]:5671, epmd on [::]:4369, something on [::1]:25672.
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1627 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 25123 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 25120 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000001000000:6448 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 25130 1 0000000000000000 100 0 0 10 0
";

#[test]
fn listening_sockets_are_read_from_proc_net_tcp() {
    let v4 = listening_sockets(TCP);
    assert_eq!(v4.len(), 5, "{v4:?}");
    assert!(v4.contains(&("0.0.0.0".parse().unwrap(), 22)));
    assert!(v4.contains(&("0.0.0.0".parse().unwrap(), 3306)));
    assert!(v4.contains(&("127.0.0.53".parse().unwrap(), 53)));
    assert!(v4.contains(&("127.0.0.1".parse().unwrap(), 11211)));
    let v6 = listening_sockets(TCP6);
    assert_eq!(
        v6,
        vec![
            ("::".parse().unwrap(), 5671),
            ("::".parse().unwrap(), 4369),
            ("::1".parse().unwrap(), 25672)
        ]
    );
    // Must fail: lines that are not sockets, or not in the format, yield nothing.
    for bad in [
        "",
        "garbage",
        "   0: 00000000:0016 00000000:0000",
        "   0: 0000000:0016 00000000:0000 0A",
        "   0: 00000000:XYZ0 00000000:0000 0A",
        "   0: 0000000000000000000000000000000:0016 00000000:0000 0A",
        "   0: 00000000:10000 00000000:0000 0A",
        "   0: ééééé:0016 00000000:0000 0A",
    ] {
        assert_eq!(listening_sockets(bad), vec![], "{bad:?}");
    }
}

#[test]
fn a_member_tells_only_its_cluster_ports_on_other_addresses_than_loopback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
    std::fs::write(dir.path().join("proc/net/tcp"), TCP).unwrap();
    std::fs::write(dir.path().join("proc/net/tcp6"), TCP6).unwrap();
    let facts = MemberFacts::gather("node1", Some(9000), &Root::at(dir.path()), at(1_234));
    assert_eq!(
        facts,
        MemberFacts {
            node: "node1".to_owned(),
            image_version: image_version().to_owned(),
            clock_ms: 1_234,
            mtu: Some(9000),
            // Not 22 and 53 (no cluster ports), not 11211 (loopback only).
            listening: vec![3306, 4369, 4567, 5671],
        }
    );
    let empty = tempfile::tempdir().unwrap();
    let none = MemberFacts::gather("node1", None, &Root::at(empty.path()), at(0));
    assert!(none.listening.is_empty() && none.mtu.is_none());
}

#[test]
fn only_some_checks_may_be_skipped() {
    assert_eq!(
        CheckId::parse_skippable("name-resolution"),
        Ok(CheckId::NameResolution)
    );
    assert_eq!(CheckId::parse_skippable("mtu"), Ok(CheckId::Mtu));
    for bad in [
        "version-mismatch",
        "clock-skew",
        "port-unreachable",
        "MTU",
        "",
        "all",
    ] {
        let why = CheckId::parse_skippable(bad).unwrap_err();
        assert!(why.contains("name-resolution, mtu"), "{why}");
    }
}

/// A machine that answers as told, and remembers what it was asked.
#[derive(Default)]
struct FakeProbe {
    names: BTreeMap<String, Vec<IpAddr>>,
    ports: BTreeMap<u16, PortOutcome>,
    ping_fails: bool,
    pings: Mutex<Vec<(IpAddr, u32)>>,
    connects: Mutex<Vec<u16>>,
}

impl Probe for FakeProbe {
    fn resolve(&self, name: &str) -> Resolved {
        self.names
            .get(name)
            .cloned()
            .ok_or_else(|| "Name or service not known".to_owned())
    }

    fn connect(&self, addr: SocketAddr) -> PortOutcome {
        self.connects.lock().unwrap().push(addr.port());
        self.ports
            .get(&addr.port())
            .cloned()
            .unwrap_or(PortOutcome::Refused)
    }

    fn ping(&self, addr: IpAddr, payload: u32) -> Result<(), CmdError> {
        self.pings.lock().unwrap().push((addr, payload));
        let script = if self.ping_fails { "exit 1" } else { "exit 0" };
        Command::new("sh").args(["-c", script]).run().map(|_| ())
    }
}

fn good_member() -> (Fetched, FakeProbe) {
    let fetched = Fetched {
        facts: MemberFacts {
            node: "node1".to_owned(),
            image_version: image_version().to_owned(),
            clock_ms: 10_200,
            mtu: Some(1500),
            listening: vec![3306, 4567],
        },
        sent: at(10_000),
        received: at(10_400),
    };
    let mut probe = FakeProbe::default();
    probe
        .names
        .insert("node1".to_owned(), vec![MEMBER_ADDR.parse().unwrap()]);
    probe.ports.insert(3306, PortOutcome::Open);
    probe.ports.insert(4567, PortOutcome::Open);
    (fetched, probe)
}

#[test]
fn a_good_member_passes_and_is_probed_as_it_says() {
    let (fetched, probe) = good_member();
    let addr = MEMBER_ADDR.parse().unwrap();
    let outcome = check_member(&fetched, addr, "node-2", &[], &probe);
    assert_eq!(outcome, Outcome::default());
    assert!(outcome.passed());
    let mut connects = probe.connects.lock().unwrap().clone();
    connects.sort_unstable();
    assert_eq!(connects, [3306, 4567], "only the ports it listens on");
    assert_eq!(*probe.pings.lock().unwrap(), [(addr, 1472)]);
}

#[test]
fn every_failure_is_listed_in_order() {
    let (mut fetched, mut probe) = good_member();
    fetched.facts.image_version = "0.0.1".to_owned();
    fetched.facts.clock_ms = 700_000;
    probe.names.clear();
    probe.ports.insert(4567, PortOutcome::TimedOut);
    probe.ping_fails = true;
    let addr = MEMBER_ADDR.parse().unwrap();
    let outcome = check_member(&fetched, addr, "node-2", &[], &probe);
    let ids: Vec<&str> = outcome.failures.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "version-mismatch",
            "clock-skew",
            "name-resolution",
            "port-unreachable",
            "mtu"
        ]
    );
    assert!(!outcome.passed());
    let text = render_refusal(member("node1"), &outcome);
    assert!(
        text.starts_with(
            "the pre-join checks of member node1 (10.0.0.5) failed (5 of them); the join request was not sent:\n"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.contains("\n  mtu: a don't-fragment ping of 1500 bytes"),
        "{text}"
    );

    // Skipped checks are not run and say so; the others still refuse.
    let skip = [CheckId::NameResolution, CheckId::Mtu];
    let probe = FakeProbe {
        ping_fails: true,
        ..FakeProbe::default()
    };
    let outcome = check_member(&fetched, addr, "node-2", &skip, &probe);
    let ids: Vec<CheckId> = outcome.failures.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [
            CheckId::VersionMismatch,
            CheckId::ClockSkew,
            CheckId::PortUnreachable,
            CheckId::PortUnreachable
        ]
    );
    let skipped: Vec<CheckId> = outcome.skipped.iter().map(|f| f.id).collect();
    assert_eq!(skipped, skip);
    assert!(probe.pings.lock().unwrap().is_empty());
}

#[test]
fn without_an_mtu_the_ping_is_skipped_with_the_reason() {
    let (mut fetched, probe) = good_member();
    fetched.facts.mtu = None;
    let outcome = check_member(
        &fetched,
        MEMBER_ADDR.parse().unwrap(),
        "node-2",
        &[],
        &probe,
    );
    assert!(outcome.passed());
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].id, CheckId::Mtu);
    assert!(
        outcome.skipped[0]
            .message
            .contains("member node1 (10.0.0.5) has no data-plane MTU configured"),
        "{:?}",
        outcome.skipped
    );
    assert!(probe.pings.lock().unwrap().is_empty());
}

#[test]
fn a_missing_ping_names_its_package() {
    struct NoPing;
    impl Probe for NoPing {
        fn resolve(&self, _: &str) -> Resolved {
            Ok(vec![MEMBER_ADDR.parse().unwrap()])
        }
        fn connect(&self, _: SocketAddr) -> PortOutcome {
            PortOutcome::Open
        }
        fn ping(&self, _: IpAddr, _: u32) -> Result<(), CmdError> {
            Command::new("stackbox-no-such-ping").run().map(|_| ())
        }
    }
    let (fetched, _) = good_member();
    let outcome = check_member(
        &fetched,
        MEMBER_ADDR.parse().unwrap(),
        "node-2",
        &[],
        &NoPing,
    );
    assert_eq!(outcome.failures.len(), 1, "{outcome:?}");
    assert!(
        outcome.failures[0].message.contains("iputils-ping"),
        "{:?}",
        outcome.failures
    );
}
