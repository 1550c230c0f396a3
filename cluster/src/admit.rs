//! Letting a node about to join through a member's firewall. A member's cluster ports (the database's,
//! the bus's, haproxy's backends) answer its members only (`stackbox_installer`'s firewall step), so a
//! node that is not in the configuration yet could neither pass the pre-join port checks nor receive a
//! state transfer. Before its checks the joiner proves it holds the join code ([`Admission`]: a MAC made
//! with the key derived from the code, over its address, a nonce and the time, so the code never crosses
//! the wire); the member judges it like a join request, without spending the code
//! (`Member::admit_from`), and adds the joiner's address to the firewall's set of joiners for
//! [`ADMITTED_FOR`] ([`open_firewall`]). The install that makes the joiner a member writes it into every
//! node's drop-in before any of its cluster services start.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::{CmdError, Command};
use stackbox_installer::plan::infrastructure::firewall::{JOINERS, TABLE};

use crate::code::JoinCode;
use crate::proof::{Context, Fingerprint, JoinKey, Mac, Nonce, RandomError};

/// How long a joiner's address stays in the member's set: the pre-join checks and the join take
/// seconds; the install that makes it a member opens the ports for good.
pub const ADMITTED_FOR: Duration = Duration::from_secs(15 * 60);

/// A joiner's proof that it holds the join code, sent with its request for the pre-join facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    /// The joiner's management address: the one it connects from, which the member lets in.
    pub address: IpAddr,
    /// Fresh for every request.
    pub nonce: Nonce,
    /// When it was made, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// HMAC-SHA256 over the fields above, with the key derived from the code.
    pub mac: Mac,
}

impl Admission {
    /// An admission for `address` made with `code` for the member whose certificate is `member`.
    pub fn new(
        address: IpAddr,
        code: &JoinCode,
        member: &Fingerprint,
        now: SystemTime,
    ) -> Result<Admission, RandomError> {
        let mut admission = Admission {
            address,
            nonce: Nonce::generate()?,
            timestamp: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            mac: Mac::UNSIGNED,
        };
        let key = JoinKey::derive(code, member);
        let fields = admission.fields();
        admission.mac = key.sign(Context::Admission, &refs(&fields));
        Ok(admission)
    }

    fn fields(&self) -> [Vec<u8>; 3] {
        [
            self.address.to_string().into_bytes(),
            self.nonce.as_bytes().to_vec(),
            self.timestamp.to_be_bytes().to_vec(),
        ]
    }

    /// Whether it was made with `key`.
    pub fn verify(&self, key: &JoinKey) -> bool {
        key.verify(Context::Admission, &refs(&self.fields()), &self.mac)
    }
}

fn refs(fields: &[Vec<u8>; 3]) -> [&[u8]; 3] {
    [&fields[0], &fields[1], &fields[2]]
}

/// What [`open_firewall`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The address is in the joiners' set.
    Admitted,
    /// This node's firewall has no joiners' set: its roles are not installed, so no cluster port is
    /// open to anyone and there is nothing to let the joiner through to.
    NothingToOpen,
}

/// Adds `address` to the firewall's joiners' set for `ttl`, in the table the installer's drop-in
/// defines.
pub fn open_firewall(address: IpAddr, ttl: Duration) -> Result<Opened, CmdError> {
    let address = address.to_canonical();
    let set = if address.is_ipv4() {
        JOINERS[0]
    } else {
        JOINERS[1]
    };
    let (family, table) = TABLE.split_once(' ').unwrap_or(("inet", TABLE));
    if Command::new("nft")
        .args(["list", "set", family, table, set])
        .run()
        .is_err()
    {
        return Ok(Opened::NothingToOpen);
    }
    Command::new("nft")
        .args(["add", "element", family, table, set])
        .arg(format!("{{ {address} timeout {}s }}", ttl.as_secs()))
        .run()?;
    tracing::info!(%address, minutes = ttl.as_secs() / 60, "let a node about to join through the firewall");
    Ok(Opened::Admitted)
}
