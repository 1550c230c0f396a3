//! The probe after an apply: every link of the new network is up, the management interface holds its
//! address, the gateway answers ARP, a name server answers a query, and the cluster's peers answer on TCP.
//! Each check waits for the network to settle, up to a limit; the first that fails says what it saw.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::model::{Addressing, NetworkSettings};
use crate::render::render_networkd;

/// How long the gateway and each name server have to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// One probe of the settings just applied.
pub struct Probe<'a> {
    /// What was applied.
    pub settings: &'a NetworkSettings,
    /// Peers that must answer on TCP.
    pub peers: &'a [SocketAddr],
    /// How long links and addresses may take to come up.
    pub settle: Duration,
}

/// Polls `check` until it returns `Some`, for at most `limit`.
fn wait<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The operational state of a link over netlink (`None` when the link is absent). Netlink, not sysfs: a
/// container's sysfs may not show the links made after it was mounted.
pub fn operstate(link: &str) -> Option<String> {
    let links =
        stackbox_machine::probe::net::probe(&stackbox_machine::system::Root::live()).ok()?;
    let found = links.into_iter().find(|l| l.name == link)?;
    Some(found.operstate.unwrap_or_else(|| "unknown".to_owned()))
}

impl Probe<'_> {
    /// Runs every check; returns what each saw, or the first failure.
    pub fn run(&self) -> Result<Vec<String>, String> {
        let mut seen = self.links()?;
        let (address, gateway) = self.address()?;
        seen.push(format!("{address} held on {}", self.settings.bridge));
        if let Some(gateway) = gateway {
            self.gateway(gateway)?;
            seen.push(format!("gateway {gateway} answered ARP"));
        }
        if let Some(server) = self.name_servers()? {
            seen.push(format!("name server {server} answered"));
        }
        for peer in self.peers {
            TcpStream::connect_timeout(peer, ANSWER_WITHIN)
                .map_err(|e| format!("cluster peer {peer} did not answer: {e}"))?;
            seen.push(format!("cluster peer {peer} answered"));
        }
        Ok(seen)
    }

    /// Every interface the files name exists and is up.
    fn links(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = render_networkd(self.settings)
            .iter()
            .filter_map(|f| {
                let rest = f.name.strip_prefix(crate::render::FILE_PREFIX)?;
                Some(rest.rsplit_once('.')?.0.to_owned())
            })
            .collect();
        names.dedup();
        let mut seen = Vec::new();
        for link in names {
            let up = wait(self.settle, || {
                let state = operstate(&link)?;
                (state == "up" || state == "unknown").then_some(state)
            });
            match up {
                Some(_) => seen.push(format!("{link} up")),
                None => {
                    return Err(format!(
                        "{link} is not up after {} s (operstate {})",
                        self.settle.as_secs(),
                        operstate(&link).unwrap_or_else(|| "absent".to_owned())
                    ));
                }
            }
        }
        Ok(seen)
    }

    /// The management interface holds its address; returns it and the gateway to check.
    fn address(&self) -> Result<(String, Option<IpAddr>), String> {
        let bridge = &self.settings.bridge;
        let held = |want: Option<IpAddr>| {
            wait(self.settle, || {
                let addrs = stackbox_machine::probe::net::addresses_with_prefix().ok()?;
                addrs.into_iter().find(|(link, ip, _)| {
                    link == bridge
                        && match want {
                            Some(w) => *ip == w,
                            None => ip.is_ipv4(),
                        }
                })
            })
        };
        match &self.settings.addressing {
            Addressing::Static {
                address, gateway, ..
            } => held(Some(address.addr()))
                .map(|_| (address.to_string(), Some(*gateway)))
                .ok_or_else(|| format!("{bridge} does not hold {address}")),
            Addressing::Dhcp { .. } => {
                let (_, ip, prefix) = held(None).ok_or_else(|| {
                    format!(
                        "{bridge} got no address from DHCP within {} s",
                        self.settle.as_secs()
                    )
                })?;
                Ok((format!("{ip}/{prefix} (DHCP)"), default_gateway(bridge)))
            }
        }
    }

    /// The gateway answers ARP on the management interface (its neighbour entry completes).
    fn gateway(&self, gateway: IpAddr) -> Result<(), String> {
        let bridge = &self.settings.bridge;
        let IpAddr::V4(v4) = gateway else {
            return Ok(());
        };
        // An entry from before the change proves nothing: forget it, then make the kernel ask again.
        let _ = stackbox_common::cmd::Command::new("ip")
            .args(["neigh", "flush", "to", &v4.to_string(), "dev", bridge])
            .run();
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
        let answered = wait(ANSWER_WITHIN, || {
            let _ = socket.send_to(b"stackbox probe", (v4, 9));
            arp_complete(v4, bridge).then_some(())
        });
        answered.ok_or_else(|| {
            format!(
                "the gateway {gateway} did not answer ARP on {bridge} within {} s",
                ANSWER_WITHIN.as_secs()
            )
        })
    }

    /// One of the name servers the settings give answers a query; `None` when they give none.
    fn name_servers(&self) -> Result<Option<IpAddr>, String> {
        let servers = match &self.settings.addressing {
            Addressing::Static { dns, .. } | Addressing::Dhcp { dns } => dns,
        };
        if servers.is_empty() {
            return Ok(None);
        }
        for server in servers {
            if dns_answers(*server).is_ok() {
                return Ok(Some(*server));
            }
        }
        let tried: Vec<String> = servers.iter().map(IpAddr::to_string).collect();
        Err(format!(
            "no name server answered a query ({})",
            tried.join(", ")
        ))
    }
}

/// Whether the kernel's ARP table has a complete entry for `ip` on `dev` (`/proc/net/arp`, flag 0x2).
fn arp_complete(ip: Ipv4Addr, dev: &str) -> bool {
    let table = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 6
            && f[0] == ip.to_string()
            && f[5] == dev
            && u32::from_str_radix(f[2].trim_start_matches("0x"), 16)
                .is_ok_and(|flags| flags & 2 != 0)
    })
}

/// The IPv4 default gateway through `dev` (`/proc/net/route`).
fn default_gateway(dev: &str) -> Option<IpAddr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[0] != dev || f[1] != "00000000" {
            return None;
        }
        let raw = u32::from_str_radix(f[2], 16).ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(raw.swap_bytes())))
    })
}

/// The query for the root zone's NS records: 12 bytes of header (id, recursion desired, one question),
/// the root name, type NS, class IN.
fn root_ns_query(id: u16) -> [u8; 17] {
    let [hi, lo] = id.to_be_bytes();
    [hi, lo, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]
}

/// Whether `server` answers a query on UDP port 53: a reply with the query's id, marked as a response,
/// with no error or "no such name". A refusal or a server failure is an answer that does not serve.
fn dns_answers(server: IpAddr) -> Result<(), String> {
    let bind: SocketAddr = match server {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| e.to_string())?;
    let id = u16::from_le_bytes(
        std::process::id().to_le_bytes()[..2]
            .try_into()
            .unwrap_or([0, 0]),
    );
    socket
        .send_to(&root_ns_query(id), (server, 53))
        .map_err(|e| e.to_string())?;
    let mut reply = [0u8; 512];
    let (n, _) = socket.recv_from(&mut reply).map_err(|e| e.to_string())?;
    judge_reply(id, &reply[..n])
}

/// Judges a DNS reply to the query with `id`.
pub fn judge_reply(id: u16, reply: &[u8]) -> Result<(), String> {
    if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id {
        return Err("a reply that is not to our query".to_owned());
    }
    if reply[2] & 0x80 == 0 {
        return Err("a query, not a response".to_owned());
    }
    match reply[3] & 0x0f {
        0 | 3 => Ok(()),
        2 => Err("server failure".to_owned()),
        5 => Err("the server refused the query".to_owned()),
        code => Err(format!("response code {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_judged_by_its_id_flag_and_code() {
        let query = root_ns_query(0xbeef);
        assert_eq!(&query[..2], &[0xbe, 0xef]);
        let mut reply = query.to_vec();
        reply[2] |= 0x80;
        assert_eq!(judge_reply(0xbeef, &reply), Ok(()));
        reply[3] = 3; // NXDOMAIN: the server answered.
        assert_eq!(judge_reply(0xbeef, &reply), Ok(()));
        reply[3] = 5;
        assert!(judge_reply(0xbeef, &reply).is_err());
        reply[3] = 0;
        assert!(judge_reply(0xbeee, &reply).is_err());
        assert!(judge_reply(0xbeef, &query).is_err(), "a query is no answer");
        assert!(judge_reply(0xbeef, &reply[..5]).is_err());
    }
}
