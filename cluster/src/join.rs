//! Joining a cluster, both sides, without HTTP (the wizard owns the route and carries these types as
//! JSON).
//!
//! The joiner ([`Joiner::request`]) makes a key pair that never leaves it, a certificate signing request
//! for its node name and address, and a request authenticated with the key derived from the code and the
//! member's pinned fingerprint. The member ([`Member::accept`]) refuses a stale request, checks the code
//! (no code, expired, locked, wrong MAC: the last counts a try), the image version and the CSR, then signs
//! a node certificate with the cluster CA and answers with its own MAC over the request's nonce and the
//! answer. The joiner ([`Joiner::verify_grant`]) checks that MAC, that the CA signed the certificate and
//! that the certificate is its own. A refused join changes nothing but the try counter; a granted join
//! spends the code.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateSigningRequestParams, Issuer, KeyPair, PublicKeyData};
use serde::{Deserialize, Serialize};
use stackbox_common::pki;
use stackbox_common::secret::Secret;

use crate::admit::Admission;
use crate::code::{AttemptError, CodeStore, JoinCode, MAX_TRIES, StoreError, Verdict};
use crate::proof::{Context, Fingerprint, JoinKey, Mac, Nonce, RandomError};

/// How old a request may be when it arrives.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// How far ahead of the member's clock a request may be dated.
pub const MAX_AHEAD: Duration = Duration::from_secs(60);

/// The image version both sides of a join compare: the workspace's version, which every stackbox crate
/// and the `stackbox` package (whose binaries the image carries) share. The member and the joiner both
/// call this one function.
pub fn image_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// A joiner's request, authenticated with the key derived from the code (which it does not contain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The joiner's node name (a host name).
    pub node: String,
    /// The joiner's management address.
    pub address: IpAddr,
    /// The fingerprint of the joiner's TLS certificate, which the member pins.
    pub fingerprint: Fingerprint,
    /// The version of the image the joiner runs.
    pub image_version: String,
    /// Fresh for every request; the member's answer is bound to it.
    pub nonce: Nonce,
    /// When the request was made, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// The certificate signing request for the joiner's node certificate (PEM).
    pub csr: String,
    /// HMAC-SHA256 over all the fields above.
    pub mac: Mac,
}

impl JoinRequest {
    fn signed_fields(&self) -> [Vec<u8>; 7] {
        [
            self.node.as_bytes().to_vec(),
            self.address.to_string().into_bytes(),
            self.fingerprint.as_bytes().to_vec(),
            self.image_version.as_bytes().to_vec(),
            self.nonce.as_bytes().to_vec(),
            self.timestamp.to_be_bytes().to_vec(),
            self.csr.as_bytes().to_vec(),
        ]
    }

    /// Sets the MAC over the other fields.
    fn sign(&mut self, key: &JoinKey) {
        let fields = self.signed_fields();
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        self.mac = key.sign(Context::Request, &refs);
    }

    fn verify(&self, key: &JoinKey) -> bool {
        let fields = self.signed_fields();
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        key.verify(Context::Request, &refs, &self.mac)
    }
}

/// The member's answer to a granted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinGrant {
    /// The joiner's node certificate (PEM), signed by the cluster CA.
    pub certificate: String,
    /// The cluster CA's certificate (PEM).
    pub ca: String,
    /// HMAC-SHA256 over the request's nonce, the certificate and the CA.
    pub mac: Mac,
}

fn answer_fields<'a>(nonce: &'a Nonce, certificate: &'a str, ca: &'a str) -> [&'a [u8]; 3] {
    [nonce.as_bytes(), certificate.as_bytes(), ca.as_bytes()]
}

/// Why a member refused a join, each with a message an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefusal {
    /// No code is open on the member.
    #[error(
        "no join code is open on this member (none was issued, or it was used): issue one with `stackboxd cluster code`"
    )]
    NoCode,
    /// The code expired.
    #[error("the join code expired: issue a new one on the member with `stackboxd cluster code`")]
    Expired,
    /// Too many wrong tries.
    #[error(
        "the join code is locked after {MAX_TRIES} wrong tries: issue a new one on the member with `stackboxd cluster code`"
    )]
    Locked,
    /// The request was not made with the member's code (or not for this member's fingerprint).
    #[error(
        "wrong join code, or the fingerprint given is not this member's: {tries_left} tries left before the code is locked"
    )]
    WrongCode {
        /// Wrong tries left before the code is locked.
        tries_left: u32,
    },
    /// The request names another address than the one it came from.
    #[error(
        "the join request names the address {claimed} but came from {peer}: join from the management address the member can reach back"
    )]
    AddressMismatch {
        /// The address in the request.
        claimed: IpAddr,
        /// The address the connection came from.
        peer: IpAddr,
    },
    /// The request's time is too far from the member's clock (a replay, or clocks that disagree).
    #[error(
        "the join request is {} this member's clock: set both clocks right (NTP) and try again",
        describe_skew(*skew_secs)
    )]
    Stale {
        /// The member's time less the request's, in seconds (negative: dated in the future).
        skew_secs: i64,
    },
    /// The joiner runs another image version.
    #[error(
        "this member runs image {member} and the joining node runs {joiner}: boot the new node from the same image"
    )]
    VersionMismatch {
        /// The member's version.
        member: String,
        /// The joiner's.
        joiner: String,
    },
    /// The node name cannot name a node.
    #[error("the joining node's name `{name}` is not a host name")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        #[source]
        source: stackbox_network::NameError,
    },
    /// The certificate signing request cannot be read or signed.
    #[error("the joining node's certificate signing request cannot be used")]
    BadCsr(#[source] rcgen::Error),
    /// The member could not read or update its code store.
    #[error("this member could not check its join code")]
    Store(#[source] StoreError),
    /// The member could not make the certificate.
    #[error("this member could not sign the node certificate")]
    Sign(#[source] pki::PkiError),
}

fn describe_skew(skew: i64) -> String {
    if skew >= 0 {
        format!("{skew} s behind")
    } else {
        format!("{} s ahead of", -skew)
    }
}

impl JoinRefusal {
    /// A stable name of the reason, for programs (the wizard's problem documents, tests).
    pub fn reason(&self) -> &'static str {
        match self {
            JoinRefusal::NoCode => "no-code",
            JoinRefusal::Expired => "expired",
            JoinRefusal::Locked => "locked",
            JoinRefusal::WrongCode { .. } => "wrong-code",
            JoinRefusal::AddressMismatch { .. } => "address-mismatch",
            JoinRefusal::Stale { .. } => "stale-request",
            JoinRefusal::VersionMismatch { .. } => "version-mismatch",
            JoinRefusal::BadName { .. } => "bad-name",
            JoinRefusal::BadCsr(_) => "bad-csr",
            JoinRefusal::Store(_) => "store",
            JoinRefusal::Sign(_) => "sign",
        }
    }
}

impl From<AttemptError<JoinRefusal>> for JoinRefusal {
    fn from(e: AttemptError<JoinRefusal>) -> JoinRefusal {
        match e {
            AttemptError::NoCode => JoinRefusal::NoCode,
            AttemptError::Expired => JoinRefusal::Expired,
            AttemptError::Locked => JoinRefusal::Locked,
            AttemptError::WrongCode { tries_left } => JoinRefusal::WrongCode { tries_left },
            AttemptError::Refused(refusal) => refusal,
            AttemptError::Store(e) => JoinRefusal::Store(e),
        }
    }
}

/// The member's CA could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The CA certificate or key is not usable PEM.
    #[error("the cluster CA's certificate or key")]
    Ca(#[source] rcgen::Error),
}

/// The member side of a join: its code store, its identity and the cluster CA that signs node
/// certificates. Requests are judged one at a time (the code store holds a lock).
pub struct Member {
    codes: CodeStore,
    fingerprint: Fingerprint,
    image_version: String,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("codes", &self.codes)
            .field("fingerprint", &self.fingerprint)
            .field("image_version", &self.image_version)
            .finish_non_exhaustive()
    }
}

/// Refuses a request dated more than [`MAX_AGE`] before `now` or [`MAX_AHEAD`] after it.
fn fresh(timestamp: u64, now: SystemTime) -> Result<(), JoinRefusal> {
    let skew = seconds(now).saturating_sub(i64::try_from(timestamp).unwrap_or(i64::MAX));
    let too_old = skew > i64::try_from(MAX_AGE.as_secs()).unwrap_or(i64::MAX);
    let too_new = skew.saturating_neg() > i64::try_from(MAX_AHEAD.as_secs()).unwrap_or(i64::MAX);
    if too_old || too_new {
        return Err(JoinRefusal::Stale { skew_secs: skew });
    }
    Ok(())
}

fn seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl Member {
    /// A member with the cluster CA given as PEM text. `fingerprint` is this member's TLS certificate's
    /// (the one joiners pin and the code's key is salted with); `image_version` the image it runs.
    pub fn new(
        codes: CodeStore,
        fingerprint: Fingerprint,
        image_version: &str,
        ca_cert_pem: &str,
        ca_key_pem: &str,
    ) -> Result<Member, MemberError> {
        let key = KeyPair::from_pem(ca_key_pem).map_err(MemberError::Ca)?;
        let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(MemberError::Ca)?;
        Ok(Member {
            codes,
            fingerprint,
            image_version: image_version.to_owned(),
            ca_pem: ca_cert_pem.to_owned(),
            issuer,
        })
    }

    /// A member with the cluster CA read from its files (`/etc/stackbox/ca.pem` and `ca-key.pem` on an
    /// installed node).
    pub fn load(
        codes: CodeStore,
        fingerprint: Fingerprint,
        image_version: &str,
        ca_cert: &Path,
        ca_key: &Path,
    ) -> Result<Member, MemberError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| MemberError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        Member::new(
            codes,
            fingerprint,
            image_version,
            &read(ca_cert)?,
            &read(ca_key)?,
        )
    }

    /// Judges a join request at `now`: a stale request is refused before the code is looked at; a wrong
    /// MAC counts a try; a request made with the code but for another image version or with an unusable
    /// CSR is refused and changes nothing; a granted one spends the code and gets a node certificate.
    pub fn accept(&self, request: &JoinRequest, now: SystemTime) -> Result<JoinGrant, JoinRefusal> {
        fresh(request.timestamp, now)?;
        let granted = self.codes.attempt(now, |code| {
            let key = JoinKey::derive(code, &self.fingerprint);
            if !request.verify(&key) {
                return Verdict::WrongCode;
            }
            match self.grant(request, &key) {
                Ok(grant) => Verdict::Grant(grant),
                Err(refusal) => Verdict::Refuse(refusal),
            }
        });
        match granted {
            Ok(grant) => {
                tracing::info!(node = %request.node, address = %request.address, "granted a join");
                Ok(grant)
            }
            Err(e) => {
                let refusal = JoinRefusal::from(e);
                tracing::warn!(node = %request.node, reason = refusal.reason(), "refused a join");
                Err(refusal)
            }
        }
    }

    /// [`Member::accept`] for a request that came from `peer`: refused before the code is looked at
    /// (no try counted) when the request names another address, so a node certificate is only ever
    /// issued for the address the joiner really speaks from.
    pub fn accept_from(
        &self,
        request: &JoinRequest,
        peer: IpAddr,
        now: SystemTime,
    ) -> Result<JoinGrant, JoinRefusal> {
        let peer = peer.to_canonical();
        if request.address.to_canonical() != peer {
            let refusal = JoinRefusal::AddressMismatch {
                claimed: request.address,
                peer,
            };
            tracing::warn!(node = %request.node, reason = refusal.reason(), "refused a join");
            return Err(refusal);
        }
        self.accept(request, now)
    }

    /// Judges a node's proof that it holds the code, from `peer` at `now`, before its pre-join checks: as
    /// a join request is judged (the address it names must be `peer`'s, the time fresh, a wrong MAC counts
    /// a try), but a good one does not spend the code. The caller then lets `peer` through the firewall
    /// ([`crate::admit::open_firewall`]).
    pub fn admit_from(
        &self,
        admission: &Admission,
        peer: IpAddr,
        now: SystemTime,
    ) -> Result<(), JoinRefusal> {
        let peer = peer.to_canonical();
        if admission.address.to_canonical() != peer {
            return Err(JoinRefusal::AddressMismatch {
                claimed: admission.address,
                peer,
            });
        }
        fresh(admission.timestamp, now)?;
        self.codes
            .attempt(now, |code| {
                if admission.verify(&JoinKey::derive(code, &self.fingerprint)) {
                    Verdict::Admit(())
                } else {
                    Verdict::WrongCode
                }
            })
            .map_err(|e| {
                let refusal = JoinRefusal::from(e);
                tracing::warn!(%peer, reason = refusal.reason(), "refused a node about to join");
                refusal
            })
    }

    /// The checks after the code: version, name, CSR; then the certificate and the answer.
    fn grant(&self, request: &JoinRequest, key: &JoinKey) -> Result<JoinGrant, JoinRefusal> {
        if request.image_version != self.image_version {
            return Err(JoinRefusal::VersionMismatch {
                member: self.image_version.clone(),
                joiner: request.image_version.clone(),
            });
        }
        stackbox_network::check_hostname(&request.node).map_err(|source| JoinRefusal::BadName {
            name: request.node.clone(),
            source,
        })?;
        let mut csr =
            CertificateSigningRequestParams::from_pem(&request.csr).map_err(JoinRefusal::BadCsr)?;
        // Only the CSR's key is taken: names, validity and usages are the member's to decide.
        let names = [request.node.clone(), request.address.to_string()];
        csr.params = pki::leaf_params(&names, &request.node, pki::Purpose::ServerAndClient)
            .map_err(JoinRefusal::Sign)?;
        let certificate = csr
            .signed_by(&self.issuer)
            .map_err(|e| JoinRefusal::Sign(pki::PkiError::Sign(e)))?
            .pem();
        let mac = key.sign(
            Context::Answer,
            &answer_fields(&request.nonce, &certificate, &self.ca_pem),
        );
        Ok(JoinGrant {
            certificate,
            ca: self.ca_pem.clone(),
            mac,
        })
    }
}

/// The joining node: who it is.
#[derive(Debug, Clone)]
pub struct Joiner {
    /// Its node name (a host name).
    pub node: String,
    /// Its management address.
    pub address: IpAddr,
    /// Its TLS certificate's fingerprint (the wizard's), for the member to pin.
    pub fingerprint: Fingerprint,
    /// The image version it runs.
    pub image_version: String,
}

/// A request sent and not yet answered: the node's private key and what checks the answer.
pub struct PendingJoin {
    key_pair: KeyPair,
    join_key: JoinKey,
    nonce: Nonce,
}

impl std::fmt::Debug for PendingJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingJoin")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl PendingJoin {
    /// The node's private key (PEM), made for this request; it never leaves the joiner.
    pub fn private_key_pem(&self) -> Secret {
        Secret::from(self.key_pair.serialize_pem())
    }
}

/// What a joiner holds after a verified grant: its node certificate and key and the cluster CA.
#[derive(Debug, Clone)]
pub struct NodeCredentials {
    /// The node certificate (PEM).
    pub certificate: String,
    /// Its private key (PEM).
    pub key: Secret,
    /// The cluster CA's certificate (PEM), to trust for node-to-node calls.
    pub ca: String,
}

/// Why a joiner could not make its request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The random source failed.
    #[error("making the join request")]
    Random(#[from] RandomError),
    /// The key pair or the CSR could not be made (a name that is neither a DNS name nor an address).
    #[error("making the node's key and certificate signing request")]
    Csr(#[source] rcgen::Error),
}

/// Why a joiner does not trust a grant.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The answer's MAC is wrong: whoever answered does not hold the code.
    #[error(
        "the member's answer is not authenticated by the join code: it may not be the member you meant, do not trust it"
    )]
    WrongMac,
    /// The certificate or the CA is not a PEM certificate.
    #[error("the member's answer holds no readable {0}")]
    Unreadable(&'static str),
    /// The CA certificate is not a CA.
    #[error("the cluster CA certificate in the member's answer is not a CA")]
    NotCa,
    /// The CA did not sign the certificate.
    #[error("the node certificate in the member's answer is not signed by the cluster CA")]
    NotSigned,
    /// The certificate is not for this node's key, name or address.
    #[error("the node certificate in the member's answer is not for this node ({0})")]
    NotOurs(&'static str),
    /// The certificate is not valid now.
    #[error("the node certificate in the member's answer is not valid now")]
    NotValid,
}

impl Joiner {
    /// A request to join the member whose TLS fingerprint is `member` with the code the operator typed,
    /// dated `now`, and what [`Joiner::verify_grant`] needs to check the answer (including the node's new
    /// private key).
    pub fn request(
        &self,
        code: &JoinCode,
        member: &Fingerprint,
        now: SystemTime,
    ) -> Result<(JoinRequest, PendingJoin), RequestError> {
        let key_pair = KeyPair::generate().map_err(RequestError::Csr)?;
        let mut params =
            rcgen::CertificateParams::new(vec![self.node.clone(), self.address.to_string()])
                .map_err(RequestError::Csr)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, self.node.as_str());
        let csr = params
            .serialize_request(&key_pair)
            .and_then(|r| r.pem())
            .map_err(RequestError::Csr)?;
        let join_key = JoinKey::derive(code, member);
        let nonce = Nonce::generate()?;
        let mut request = JoinRequest {
            node: self.node.clone(),
            address: self.address,
            fingerprint: self.fingerprint,
            image_version: self.image_version.clone(),
            nonce,
            timestamp: u64::try_from(seconds(now)).unwrap_or(0),
            csr,
            mac: Mac::UNSIGNED,
        };
        request.sign(&join_key);
        let pending = PendingJoin {
            key_pair,
            join_key,
            nonce,
        };
        Ok((request, pending))
    }

    /// Checks a member's grant at `now`: its MAC (the member holds the code), that the CA is a CA and
    /// signed the certificate, and that the certificate is this node's (its key, name and address) and
    /// valid now. Returns the node's credentials.
    pub fn verify_grant(
        &self,
        pending: PendingJoin,
        grant: &JoinGrant,
        now: SystemTime,
    ) -> Result<NodeCredentials, GrantError> {
        let fields = answer_fields(&pending.nonce, &grant.certificate, &grant.ca);
        if !pending
            .join_key
            .verify(Context::Answer, &fields, &grant.mac)
        {
            return Err(GrantError::WrongMac);
        }
        let ca_pem = parse_pem(&grant.ca, "cluster CA certificate")?;
        let ca = ca_pem
            .parse_x509()
            .map_err(|_| GrantError::Unreadable("cluster CA certificate"))?;
        let cert_pem = parse_pem(&grant.certificate, "node certificate")?;
        let cert = cert_pem
            .parse_x509()
            .map_err(|_| GrantError::Unreadable("node certificate"))?;
        if !ca.is_ca() {
            return Err(GrantError::NotCa);
        }
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|_| GrantError::NotSigned)?;
        if cert.public_key().raw != pending.key_pair.subject_public_key_info().as_slice() {
            return Err(GrantError::NotOurs("another key"));
        }
        let names = certificate_names(&cert);
        if !names.contains(&self.node) || !names.contains(&self.address.to_string()) {
            return Err(GrantError::NotOurs("other names"));
        }
        let at = x509_parser::time::ASN1Time::from_timestamp(seconds(now))
            .map_err(|_| GrantError::NotValid)?;
        if !cert.validity().is_valid_at(at) {
            return Err(GrantError::NotValid);
        }
        Ok(NodeCredentials {
            certificate: grant.certificate.clone(),
            key: pending.private_key_pem(),
            ca: grant.ca.clone(),
        })
    }
}

fn parse_pem(text: &str, what: &'static str) -> Result<x509_parser::pem::Pem, GrantError> {
    x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map(|(_, pem)| pem)
        .map_err(|_| GrantError::Unreadable(what))
}

/// The DNS names and addresses of a certificate's subject alternative names.
fn certificate_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
