//! What one client may hold of the server: a bounded number of connections per address, and a
//! deadline for a request's body, so that slow clients (a body announced at 60,000 bytes and sent five
//! bytes at a time) cannot keep connections, workers and file descriptors.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::{Extensions, Payload};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures::StreamExt as _;

/// The most connections one client address may have open with a request on them.
pub const PER_ADDRESS: usize = 16;
/// How long a request's body may take to arrive, from the end of its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's head (from accepting the connection, and between
/// requests on a kept-alive one).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections per client address (an IPv6 client counts per /64), shared by the workers.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// The address connections are counted against: an IPv4 address itself, an IPv6 address's /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections `ip` has open (counted from their first request).
    pub fn open(&self, ip: IpAddr) -> usize {
        self.lock().get(&key(ip)).copied().unwrap_or(0)
    }

    /// Whether the connection whose slot is `slot` stays within [`PER_ADDRESS`] for `ip`: it is
    /// counted on its first request, until it closes; the answer is the same for all its requests.
    pub fn admit(&self, slot: &ConnSlot, ip: IpAddr) -> bool {
        slot.0
            .get_or_init(|| {
                let key = key(ip);
                let mut counts = self.lock();
                let n = counts.entry(key).or_insert(0);
                *n += 1;
                let within = *n <= PER_ADDRESS;
                (
                    Counted {
                        connections: self.clone(),
                        key,
                    },
                    within,
                )
            })
            .1
    }
}

/// One connection counted against its address until it is dropped.
#[derive(Debug)]
struct Counted {
    connections: Connections,
    key: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.connections.lock();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// A connection's place in the count: put into every connection's data by [`on_connect`], filled
/// on its first request, dropped (and uncounted) with the connection.
#[derive(Debug, Default)]
pub struct ConnSlot(OnceCell<(Counted, bool)>);

/// For `HttpServer::on_connect`: gives the connection its (empty) slot.
pub fn on_connect(_: &dyn std::any::Any, data: &mut Extensions) {
    data.insert(ConnSlot::default());
}

/// Whether a body error is the deadline of [`with_deadline`].
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// The payload, failing with a timeout error once `timeout` has passed before its end.
pub fn with_deadline(payload: Payload, timeout: Duration) -> Payload {
    let sleep = Box::pin(tokio::time::sleep(timeout));
    let stream = futures::stream::unfold(
        (payload, sleep, false),
        move |(mut payload, mut sleep, over)| async move {
            if over {
                return None;
            }
            tokio::select! {
                item = payload.next() => item.map(|item| (item, (payload, sleep, false))),
                () = &mut sleep => {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the body did not arrive within {} s", timeout.as_secs()),
                    );
                    Some((Err(PayloadError::Io(e)), (payload, sleep, true)))
                }
            }
        },
    );
    let boxed: std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(stream);
    Payload::from(boxed)
}

/// Raises this process's soft limit of open files to its hard limit (each connection takes one), and
/// returns the limit now in force.
pub fn raise_file_limit() -> std::io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_until_dropped() {
        let c = Connections::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let slots: Vec<ConnSlot> = (0..PER_ADDRESS + 1).map(|_| ConnSlot::default()).collect();
        let admitted: Vec<bool> = slots.iter().map(|s| c.admit(s, a)).collect();
        assert!(admitted[..PER_ADDRESS].iter().all(|x| *x));
        assert!(!admitted[PER_ADDRESS]);
        // A second request on a counted connection is not counted again.
        assert!(c.admit(&slots[0], a));
        assert_eq!(c.open(a), PER_ADDRESS + 1);
        drop(slots);
        assert_eq!(c.open(a), 0);
    }
}
