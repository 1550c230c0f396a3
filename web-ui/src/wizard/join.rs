//! The member's side of a join, with no HTTP in it: let a node about to join that proved the code
//! through the firewall and tell it the facts it checks first ([`Wizard::admit`]); judge a joiner's request with the cluster's
//! [`Member`] (the open join code, this wizard's TLS fingerprint, the cluster CA made when the cluster
//! was created) and, on a grant, record the joiner in `STATE/cluster/members.json` so the wizard can
//! show the nodes that joined.
//!
//! The request carries no session: the MAC made with the join code is its authentication. It must
//! come from the address it names. A grant whose record cannot be written is answered with an error
//! (the code is spent then: issue a new one), so the joiner stores nothing it could not show here.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use stackbox_cluster::admit::{self, ADMITTED_FOR, Admission, Opened};
use stackbox_cluster::precheck::MemberFacts;
use stackbox_cluster::{CodeStore, Fingerprint, JoinGrant, JoinRequest, Member, image_version};
use stackbox_common::pki;
use stackbox_machine::system::Root;

use super::Wizard;
use crate::error::WebError;

pub use stackbox_cluster::members::{JoinedMember, MEMBERS_FILE};

impl Wizard {
    /// The file the joined nodes are recorded in.
    pub fn members_path(&self) -> PathBuf {
        self.state_dir.join(MEMBERS_FILE)
    }

    /// The nodes that joined through this member, oldest first (none before the first join).
    pub fn members(&self) -> Result<Vec<JoinedMember>, WebError> {
        Ok(stackbox_cluster::members::load(&self.state_dir).context("the joined nodes")?)
    }

    /// Judges a join request that came from `peer` at `now`: a grant (the code is spent, the joiner
    /// recorded) or the member's refusal. Blocking: the key derivation takes a while.
    pub fn accept_join(
        &self,
        request: &JoinRequest,
        peer: IpAddr,
        now: SystemTime,
    ) -> Result<JoinGrant, WebError> {
        let grant = self.member()?.accept_from(request, peer, now)?;
        self.record(JoinedMember {
            name: request.node.clone(),
            address: request.address.to_canonical(),
            fingerprint: request.fingerprint,
            joined_at: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            serial: stackbox_cluster::revocation::serial_of(&grant.certificate).ok(),
        })
        .map_err(|e| e.context("recording the node that joined"))?;
        Ok(grant)
    }

    /// This node as the member of a cluster that judges joins: its open join code, its TLS fingerprint
    /// and the cluster CA.
    fn member(&self) -> Result<Member, WebError> {
        if self.answers.cluster()?.is_none() {
            return Err(WebError::Conflict(
                "this node has no cluster to join yet: create it in its wizard first".to_owned(),
            ));
        }
        let cert = self.state_dir.join(pki::WIZARD_CERT_FILE);
        let der = pki::read_certificate(&cert).context("this member's TLS certificate")?;
        Ok(Member::load(
            CodeStore::new(&self.state_dir),
            Fingerprint::of_der(&der),
            image_version(),
            &self.ca_cert,
            &self.ca_key,
        )
        .context("loading the cluster CA")?)
    }

    /// A node about to join proves it holds the code, from `peer` at `now`: it is let through this node's
    /// firewall to the cluster ports for [`ADMITTED_FOR`] and gets this member's facts
    /// ([`Wizard::precheck_facts`]); a wrong proof counts a try against the code. Blocking: the key
    /// derivation takes a while.
    pub fn admit(
        &self,
        admission: &Admission,
        peer: IpAddr,
        now: SystemTime,
    ) -> Result<MemberFacts, WebError> {
        self.member()?.admit_from(admission, peer, now)?;
        let opened = admit::open_firewall(peer, ADMITTED_FOR)
            .context("letting the node about to join through the firewall")?;
        if opened == Opened::NothingToOpen {
            tracing::info!(%peer, "no cluster port is open here yet: nothing to let a node about to join through");
        }
        self.precheck_facts(now)
    }

    /// What this member tells a node about to join, at `now`: its name (the network step's host name,
    /// else the machine's), its image version and clock, its data-plane MTU once the network step is
    /// done, and the cluster ports it listens on.
    pub fn precheck_facts(&self, now: SystemTime) -> Result<MemberFacts, WebError> {
        let network = self.answers.network()?;
        let name = match &network {
            Some(settings) => settings.hostname.clone(),
            None => self.report().facts.hostname.clone().unwrap_or_default(),
        };
        let mtu = network.map(|settings| settings.mtu);
        Ok(MemberFacts::gather(&name, mtu, &Root::at(self.root()), now))
    }

    /// Adds (or, for a name already there, replaces) a member's record, atomically. A node that joins
    /// again (after it was removed) starts without roles.
    fn record(&self, joined: JoinedMember) -> Result<(), WebError> {
        self.answers.forget_joined_roles(&joined.name)?;
        stackbox_cluster::members::record(&self.state_dir, joined)
            .context("recording the joined node")?;
        Ok(())
    }
}
