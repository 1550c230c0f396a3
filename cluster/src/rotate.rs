//! Rotating the cluster CA (`stackboxd cluster rotate-ca trust|sign|retire|status`, on the CA's holder),
//! in three stages so that nothing stops trusting anything it still meets:
//!
//! 1. **trust**: a new CA is made beside the old one (`ca-next.pem`, its key `ca-next-key.pem`, 0600).
//!    Every `ca.pem` becomes a bundle, the old CA first (it still signs) and the new one after it: the
//!    holder's, and every node's through its assignment (`/etc/stackbox/ca.pem`, which the OpenStack
//!    services, MariaDB and RabbitMQ read, and the agent's credentials, which its listener reads again).
//!    The CRL is signed by both. MariaDB restarts node by node to load the bundle (Galera's peers verify
//!    one another). Then the operator gives clients (laptops, monitoring) the new `/etc/stackbox/ca.pem`.
//! 2. **sign**: the new CA becomes the signer (`ca-key.pem` is its key, `ca.pem` lists it first; the
//!    old certificate is kept as `ca-previous.pem`). The API endpoint's certificate (unless it is the
//!    operator's own), every node's agent certificate and every daemon's certificate are issued again
//!    and handed out; each node puts its daemons' in place (`tls.SERVICE`, judged against the new CA),
//!    then MariaDB, RabbitMQ and haproxy restart node by node, each active again before the next.
//! 3. **retire**: once every agent presents a certificate of the new CA, the old CA leaves every
//!    `ca.pem` and the CRL is signed by the new CA alone; MariaDB restarts node by node to forget it.
//!    A certificate of the old CA is refused from then on.
//!
//! Each stage can be run again after a failure or a kill: it redoes what is not done (the swap of the
//! signer's files is ordered so that a stage interrupted in the middle is finished by its rerun). A
//! removal waits until the rotation is over ([`under_way`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;

use stackbox_common::fs::write_atomic;
use stackbox_common::pki;
use stackbox_common::secret::Secret;
use stackbox_installer::certificate;
use stackbox_installer::service_tls::{Service, judge};

use crate::agent::StepRequest;
use crate::agent_client::AgentLink;
use crate::coordinator::{CoordError, Setup, Survey, service_certificates, survey};

/// The new CA's certificate while it is only trusted, beside the CA's certificate.
pub const NEXT_CERT: &str = "ca-next.pem";
/// The new CA's key while it is only trusted (0600).
pub const NEXT_KEY: &str = "ca-next-key.pem";
/// The old CA's certificate while it is still trusted, after the new one signs.
pub const PREVIOUS_CERT: &str = "ca-previous.pem";

/// Where a rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No rotation: one CA.
    Settled,
    /// A new CA is trusted beside the old one, which still signs (after `trust`).
    Trusting,
    /// The new CA signs; the old one is still trusted (after `sign`).
    Signing,
}

/// What a stage is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Make a new CA and have every node trust it beside the old one.
    Trust,
    /// Let the new CA sign: issue every certificate again and put it in place.
    Sign,
    /// Stop trusting the old CA.
    Retire,
    /// Say where a rotation stands.
    Status,
}

/// Why a stage did not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The stage does not follow from where the rotation stands.
    #[error("{0}")]
    Order(String),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A certificate could not be made or read.
    #[error("{0}")]
    Pki(String),
    /// The cluster could not be surveyed or an agent refused.
    #[error(transparent)]
    Coord(#[from] CoordError),
    /// A daemon did not come back after its restart.
    #[error("{0}")]
    Restart(String),
    /// A node could not do its part (the stage stops there; run it again).
    #[error("node {node}: {reason}")]
    Node {
        /// The node.
        node: String,
        /// What went wrong.
        reason: String,
    },
}

/// The files of a rotation beside the CA's certificate.
#[derive(Debug, Clone)]
pub struct Files {
    /// The CA's certificate (the bundle clients trust: the signer first).
    pub ca_cert: PathBuf,
    /// The signer's key.
    pub ca_key: PathBuf,
    /// [`NEXT_CERT`].
    pub next_cert: PathBuf,
    /// [`NEXT_KEY`].
    pub next_key: PathBuf,
    /// [`PREVIOUS_CERT`].
    pub previous: PathBuf,
}

impl Files {
    /// The files beside `paths`' CA certificate.
    pub fn of(paths: &certificate::Paths) -> Files {
        let beside = |name: &str| paths.ca_cert.with_file_name(name);
        Files {
            ca_cert: paths.ca_cert.clone(),
            ca_key: paths.ca_key.clone(),
            next_cert: beside(NEXT_CERT),
            next_key: beside(NEXT_KEY),
            previous: beside(PREVIOUS_CERT),
        }
    }

    /// Where the rotation stands, by the files: the new CA's key beside the signer's until `sign`
    /// swapped them (removed last), the old certificate kept until `retire`.
    pub fn stage(&self) -> Stage {
        if self.next_key.exists() {
            Stage::Trusting
        } else if self.previous.exists() {
            Stage::Signing
        } else {
            Stage::Settled
        }
    }
}

fn file_error(path: &Path, reason: impl ToString) -> RotateError {
    RotateError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn read(path: &Path) -> Result<String, RotateError> {
    std::fs::read_to_string(path).map_err(|e| file_error(path, e))
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), RotateError> {
    write_atomic(path, text.as_bytes(), mode).map_err(|e| file_error(path, e))
}

/// The certificates (PEM blocks) of a PEM text, in order.
pub fn certificates(pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

/// The first certificate of the PEM file `path`: the CA that signs.
fn first_certificate(path: &Path) -> Result<String, RotateError> {
    certificates(&read(path)?)
        .into_iter()
        .next()
        .ok_or_else(|| file_error(path, "no certificate"))
}

/// The issuer of the certificate `cert` and the key `key`.
fn issuer_of(
    cert: &str,
    key: &Path,
) -> Result<rcgen::Issuer<'static, rcgen::KeyPair>, RotateError> {
    let path = key;
    let key = rcgen::KeyPair::from_pem(&read(path)?)
        .map_err(|e| RotateError::Pki(format!("{}: {e}", path.display())))?;
    if !certificate::key_fits(cert, &key) {
        return Err(RotateError::Pki(format!(
            "{} is not the key of its CA certificate",
            path.display()
        )));
    }
    rcgen::Issuer::from_ca_cert_pem(cert, key)
        .map_err(|e| RotateError::Pki(format!("the CA certificate: {e}")))
}

/// Trust's files: the new CA made unless it exists, and the bundle (the signer first, the new CA after
/// it) written as the CA's certificate. Returns the bundle.
pub fn trust_files(files: &Files) -> Result<String, RotateError> {
    match files.stage() {
        Stage::Signing => {
            return Err(RotateError::Order(
                "the new CA signs already: finish with `stackboxd cluster rotate-ca retire`".into(),
            ));
        }
        Stage::Settled => {
            // A name of its own: OpenSSL finds a certificate's issuer by name (and by key identifier
            // where the certificate has one): two trusted CAs of one name would be confused.
            let now = time::OffsetDateTime::now_utc();
            let name = format!(
                "stackbox cluster CA {} {:02}:{:02}:{:02} UTC",
                now.date(),
                now.hour(),
                now.minute(),
                now.second()
            );
            let (cert, issuer) = pki::new_ca(&name)
                .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
            // The key first: the certificate beside it is made only with it.
            write(&files.next_cert, &cert.pem(), 0o644)?;
            write(&files.next_key, &issuer.key().serialize_pem(), 0o600)?;
        }
        Stage::Trusting => {}
    }
    let bundle = format!(
        "{}{}",
        first_certificate(&files.ca_cert)?,
        first_certificate(&files.next_cert)?
    );
    write(&files.ca_cert, &bundle, 0o644)?;
    Ok(bundle)
}

/// Sign's files: the new CA becomes the signer. In an order a rerun finishes: the old certificate kept
/// (once), the new key as the signer's, the bundle with the new CA first, the new CA's own files
/// removed last. Returns the bundle.
pub fn sign_files(files: &Files) -> Result<String, RotateError> {
    match files.stage() {
        Stage::Settled => {
            return Err(RotateError::Order(
                "no new CA is trusted yet: run `stackboxd cluster rotate-ca trust` first, then give clients the new /etc/stackbox/ca.pem".into(),
            ));
        }
        Stage::Signing => return read(&files.ca_cert),
        Stage::Trusting => {}
    }
    // Make sure the new pair is whole before it replaces anything.
    let next = first_certificate(&files.next_cert)?;
    issuer_of(&next, &files.next_key)?;
    if !files.previous.exists() {
        write(&files.previous, &first_certificate(&files.ca_cert)?, 0o644)?;
    }
    write(&files.ca_key, &read(&files.next_key)?, 0o600)?;
    let bundle = format!("{next}{}", first_certificate(&files.previous)?);
    write(&files.ca_cert, &bundle, 0o644)?;
    for path in [&files.next_key, &files.next_cert] {
        std::fs::remove_file(path).map_err(|e| file_error(path, e))?;
    }
    Ok(bundle)
}

/// Whether the old CA can be retired: only once the new one signs.
fn retirable(files: &Files) -> Result<(), RotateError> {
    let why = match files.stage() {
        Stage::Signing => return Ok(()),
        Stage::Trusting => "the old CA still signs: run `stackboxd cluster rotate-ca sign` first",
        Stage::Settled => "no rotation is under way: nothing to retire",
    };
    Err(RotateError::Order(why.into()))
}

/// Retire's files, first half: the CA's certificate is the signer's alone (the old certificate stays
/// until every node has it too: see [`retired`]). Returns it.
pub fn retire_files(files: &Files) -> Result<String, RotateError> {
    retirable(files)?;
    let signer = first_certificate(&files.ca_cert)?;
    write(&files.ca_cert, &signer, 0o644)?;
    Ok(signer)
}

/// Retire's files, second half: the old certificate removed, which ends the rotation.
pub fn retired(files: &Files) -> Result<(), RotateError> {
    std::fs::remove_file(&files.previous).map_err(|e| file_error(&files.previous, e))
}

/// Whether a rotation is under way (a removal waits for its end: its CRL would be signed by one CA).
pub fn under_way(paths: &certificate::Paths) -> Option<String> {
    match Files::of(paths).stage() {
        Stage::Settled => None,
        stage => Some(format!(
            "a rotation of the cluster CA is under way ({}): finish it with `stackboxd cluster rotate-ca`",
            describe(stage)
        )),
    }
}

fn describe(stage: Stage) -> &'static str {
    match stage {
        Stage::Settled => "no rotation under way",
        Stage::Trusting => "the new CA is trusted, the old one signs: next `rotate-ca sign`",
        Stage::Signing => "the new CA signs, the old one is still trusted: next `rotate-ca retire`",
    }
}

/// `rotate-ca status`: the stage and the fingerprints of the CAs.
pub fn status(setup: &Setup) -> Result<String, RotateError> {
    let files = Files::of(&setup.ca);
    let mut out = format!("{}\n", describe(files.stage()));
    for (i, cert) in certificates(&read(&files.ca_cert)?).iter().enumerate() {
        let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes())
            .map_err(|e| RotateError::Pki(e.to_string()))?;
        let role = if i == 0 { "signs" } else { "trusted" };
        out.push_str(&format!("{role}: {}\n", pki::fingerprint(&der)));
    }
    if files.next_cert.exists() {
        let der = pki::read_certificate(&files.next_cert)
            .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
        out.push_str(&format!("next: {}\n", pki::fingerprint(&der)));
    }
    Ok(out)
}

/// Restarts `service` on `nodes` in turn (each active again before the next), through their agents.
fn restart_in_turn(
    survey: &Survey,
    nodes: &[String],
    service: &str,
    say: &mut dyn FnMut(String),
) -> Result<(), RotateError> {
    let links: Vec<(String, AgentLink)> = nodes
        .iter()
        .filter_map(|n| survey.links.get(n).map(|l| (n.clone(), l.clone())))
        .collect();
    if crate::cli_desk::restart_in_turn(&links, service, say) {
        Ok(())
    } else {
        Err(RotateError::Restart(format!(
            "{service} did not come back after its restart (see above); the stage stops here: run it again once it runs"
        )))
    }
}

/// The nodes of the survey that run `service` (by the role that runs it).
fn nodes_running(survey: &Survey, service: Service) -> Vec<String> {
    survey
        .config
        .nodes
        .iter()
        .filter(|n| n.has(service.role()))
        .map(|n| n.name.clone())
        .collect()
}

/// Hands every node the survey's assignment as it is (after `with` set its node's parts).
fn hand_out(
    survey: &mut Survey,
    with: &mut dyn FnMut(&str, &mut crate::agent::Assignment) -> Result<(), RotateError>,
    say: &mut dyn FnMut(String),
) -> Result<(), RotateError> {
    let names: Vec<String> = survey.links.keys().cloned().collect();
    for name in names {
        let mut assignment = survey.assignment.clone();
        with(&name, &mut assignment)?;
        survey.links[&name]
            .assign(&assignment)
            .map_err(|e| RotateError::Node {
                node: name.clone(),
                reason: stackbox_common::error::chain(&e),
            })?;
        say(format!("{name}: assigned"));
    }
    Ok(())
}

/// How long a restarted MariaDB has to be a synced member of a primary component again.
const SYNC_WAIT: Duration = Duration::from_secs(180);

/// MariaDB restarted node by node, each a synced member of a primary component again before the next
/// (so that a member restarts only while the others can be its donor); a restart reads the CA file and
/// the certificate again.
fn restart_databases(survey: &Survey, say: &mut dyn FnMut(String)) -> Result<(), RotateError> {
    for node in nodes_running(survey, Service::Mariadb) {
        restart_in_turn(survey, std::slice::from_ref(&node), "mariadb", say)?;
        let start = Instant::now();
        loop {
            let galera = survey.links[&node].status().ok().and_then(|s| s.galera);
            if galera
                .as_ref()
                .is_some_and(|g| g.state == "Synced" && g.status == "Primary")
            {
                say(format!(
                    "{node}: Galera synced again after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
                break;
            }
            if start.elapsed() > SYNC_WAIT {
                return Err(RotateError::Restart(format!(
                    "{node}: MariaDB is not a synced member of a primary component {} s after its restart ({galera:?}); the stage stops here: run it again once it is",
                    SYNC_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    Ok(())
}

/// Every node handed `ca` (the CAs to trust) and `crl`, then MariaDB restarted node by node to read
/// them (Galera's peers verify one another with the CA file MariaDB read at its start; RabbitMQ's
/// clients present no certificate, so its CA file is read for nothing).
fn spread_trust(
    survey: &mut Survey,
    ca: String,
    crl: Option<String>,
    say: &mut dyn FnMut(String),
) -> Result<(), RotateError> {
    survey.assignment.ca = ca;
    survey.assignment.crl = crl;
    hand_out(survey, &mut |_, _| Ok(()), say)?;
    restart_databases(survey, say)
}

/// The daemons' restarts that make them serve their new certificates: MariaDB and RabbitMQ, node by
/// node.
fn restart_daemons(survey: &Survey, say: &mut dyn FnMut(String)) -> Result<(), RotateError> {
    restart_databases(survey, say)?;
    restart_in_turn(
        survey,
        &nodes_running(survey, Service::Rabbitmq),
        "rabbitmq-server",
        say,
    )
}

/// The CRL signed again by each CA whose key is here (after a removal only).
fn resign_crl(
    setup: &Setup,
    issuers: &[&rcgen::Issuer<'_, rcgen::KeyPair>],
) -> Result<Option<String>, RotateError> {
    crate::revocation::resign(&setup.state_dir, issuers, SystemTime::now())
        .map_err(|e| RotateError::Pki(e.to_string()))?;
    Ok(crate::revocation::current_crl(&setup.state_dir))
}

/// `rotate-ca trust`.
pub fn trust(setup: &Setup, say: &mut dyn FnMut(String)) -> Result<(), RotateError> {
    let files = Files::of(&setup.ca);
    let bundle = trust_files(&files)?;
    say(format!(
        "a new CA is trusted beside the old one: {} lists both",
        files.ca_cert.display()
    ));
    let old = issuer_of(&first_certificate(&files.ca_cert)?, &files.ca_key)?;
    let next = issuer_of(&read(&files.next_cert)?, &files.next_key)?;
    let crl = resign_crl(setup, &[&old, &next])?;
    let mut survey = survey(setup)?;
    spread_trust(&mut survey, bundle, crl, say)?;
    say("every node trusts both CAs: give clients the new /etc/stackbox/ca.pem, then run `stackboxd cluster rotate-ca sign`".into());
    Ok(())
}

/// The names of the endpoint certificate at `path` (its subject alternative names, in order), when the
/// CA in `ca_pem` signed it (else it is the operator's own, and `None`).
fn endpoint_names(path: &Path, ca_pem: &str) -> Result<Option<Vec<String>>, RotateError> {
    use x509_parser::extensions::GeneralName;
    let pem = read(path)?;
    let Some(at) = pem.find("-----BEGIN PRIVATE KEY-----") else {
        return Ok(None);
    };
    let (cert, key) = pem.split_at(at);
    if judge("the endpoint", ca_pem, cert, key, &[]).is_err() {
        return Ok(None);
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(cert.as_bytes())
        .map_err(|e| RotateError::Pki(e.to_string()))?;
    let leaf = block
        .parse_x509()
        .map_err(|e| RotateError::Pki(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    names.extend(
                        <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                    );
                }
                GeneralName::IPAddress(b) if b.len() == 16 => {
                    names.extend(
                        <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                    );
                }
                _ => {}
            }
        }
    }
    Ok(Some(names))
}

/// The agent certificate of `node` for the key of its request `csr`, signed by `issuer`: only the
/// request's key is taken, the names and usages are the signer's (as at the join).
fn node_certificate(
    csr: &str,
    node: &stackbox_installer::config::Node,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<String, RotateError> {
    let refused = |e: rcgen::Error| RotateError::Node {
        node: node.name.clone(),
        reason: format!("its signing request: {e}"),
    };
    let mut request = rcgen::CertificateSigningRequestParams::from_pem(csr).map_err(refused)?;
    let names = [node.name.clone(), node.address.to_string()];
    request.params = pki::leaf_params(&names, &node.name, pki::Purpose::ServerAndClient)
        .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
    Ok(request.signed_by(issuer).map_err(refused)?.pem())
}

/// The endpoint's certificate issued again by the new CA for the names it had, when the old CA (in
/// `old_ca`) signed it (one the operator provided, or one issued already, is kept).
fn reissue_endpoint(
    setup: &Setup,
    old_ca: &str,
    say: &mut dyn FnMut(String),
) -> Result<(), RotateError> {
    if !setup.ca.endpoint.exists() {
        return Ok(());
    }
    match endpoint_names(&setup.ca.endpoint, old_ca)? {
        Some(names) if !names.is_empty() => {
            certificate::generate(&setup.ca, &names)
                .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
            say(format!(
                "the API endpoint's certificate issued again for {}",
                names.join(", ")
            ));
        }
        _ => say("the API endpoint's certificate is not of the old CA (the operator's own, or issued already): kept".into()),
    }
    Ok(())
}

/// Every daemon's certificate put in place on its node by its `tls.SERVICE` step (which judges the one
/// there against the new CA, and takes the assigned one).
fn put_daemon_certificates(
    survey: &Survey,
    say: &mut dyn FnMut(String),
) -> Result<(), RotateError> {
    for node in &survey.config.nodes {
        for service in Service::ALL {
            let id = format!("{}/tls.{}", node.name, service.name());
            if survey.plan.step(&id).is_none() {
                continue;
            }
            let failed = |reason: String| RotateError::Node {
                node: node.name.clone(),
                reason,
            };
            let outcome = survey.links[&node.name]
                .run_step(&StepRequest {
                    id: id.clone(),
                    acted: vec![],
                })
                .map_err(|e| failed(stackbox_common::error::chain(&e)))?;
            if outcome.summary.failed.is_some() {
                let output: Vec<&str> = outcome
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        stackbox_installer::executor::Event::Output { line, .. } => {
                            Some(line.as_str())
                        }
                        _ => None,
                    })
                    .collect();
                return Err(failed(format!("{id} failed:\n{}", output.join("\n"))));
            }
            say(format!(
                "{}: {} certificate in place",
                node.name,
                service.name()
            ));
        }
    }
    Ok(())
}

/// `rotate-ca sign`.
pub fn sign(setup: &Setup, say: &mut dyn FnMut(String)) -> Result<(), RotateError> {
    let files = Files::of(&setup.ca);
    let old_ca = match files.stage() {
        Stage::Trusting => first_certificate(&files.ca_cert)?,
        _ => read(&files.previous).unwrap_or_default(),
    };
    let bundle = sign_files(&files)?;
    say(format!(
        "the new CA signs: {} lists it first",
        files.ca_cert.display()
    ));
    let (issuer, _) = certificate::ensure_ca(&setup.ca.ca_cert, &setup.ca.ca_key)
        .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
    reissue_endpoint(setup, &old_ca, say)?;
    let mut survey = survey(setup)?;
    survey.assignment.ca = bundle;
    if setup.ca.endpoint.exists() {
        survey.assignment.endpoint = Some(Secret::from(read(&setup.ca.endpoint)?));
    }
    let config = survey.config.clone();
    let links = survey.links.clone();
    hand_out(
        &mut survey,
        &mut |name, assignment| {
            let node = config
                .nodes
                .iter()
                .find(|n| n.name == name)
                .ok_or_else(|| RotateError::Order(format!("{name} is not in the configuration")))?;
            // The node makes its new key and asks for its certificate: the key stays there.
            let csr = links[name]
                .certificate_request()
                .map_err(|e| RotateError::Node {
                    node: name.to_owned(),
                    reason: stackbox_common::error::chain(&e),
                })?;
            let cert = node_certificate(&csr, node, &issuer)?;
            // A removal revokes the certificate the node has now.
            let serial =
                crate::revocation::serial_of(&cert).map_err(|e| RotateError::Pki(e.to_string()))?;
            crate::members::reissued(&setup.state_dir, name, &serial)
                .map_err(|e| RotateError::Pki(e.to_string()))?;
            assignment.node = Some(cert);
            assignment.services = service_certificates(&config, name, &issuer)?;
            Ok(())
        },
        say,
    )?;
    put_daemon_certificates(&survey, say)?;
    restart_daemons(&survey, say)?;
    let proxies: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| {
            survey
                .plan
                .step(&format!("{}/tls.certificate", n.name))
                .is_some()
        })
        .map(|n| n.name.clone())
        .collect();
    restart_in_turn(&survey, &proxies, "haproxy", say)?;
    say("every certificate is of the new CA: run `stackboxd cluster rotate-ca retire` to stop trusting the old one".into());
    Ok(())
}

/// `rotate-ca retire`.
pub fn retire(setup: &Setup, say: &mut dyn FnMut(String)) -> Result<(), RotateError> {
    let files = Files::of(&setup.ca);
    retirable(&files)?;
    // Every agent must present a certificate of the new CA before the old one goes.
    let signer = first_certificate(&files.ca_cert)?;
    let only_new = std::env::temp_dir().join(format!("stackbox-ca-new-{}.pem", std::process::id()));
    write(&only_new, &signer, 0o644)?;
    let mut survey = survey(setup)?;
    let own = setup.state_dir.join(crate::node::NODE_DIR);
    let strict = crate::agent_client::tls_config(
        &only_new,
        &own.join(crate::node::NODE_CERT),
        &own.join(crate::node::NODE_KEY),
    );
    let _ = std::fs::remove_file(&only_new);
    let strict = strict.map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
    for (name, link) in &survey.links {
        let link = AgentLink {
            addr: link.addr,
            tls: strict.clone(),
        };
        link.health().map_err(|e| RotateError::Node {
            node: name.clone(),
            reason: format!(
                "its agent does not present a certificate of the new CA ({}): run `stackboxd cluster rotate-ca sign` again",
                stackbox_common::error::chain(&e)
            ),
        })?;
    }
    let (issuer, _) = certificate::ensure_ca(&setup.ca.ca_cert, &setup.ca.ca_key)
        .map_err(|e| RotateError::Pki(stackbox_common::error::chain(&e)))?;
    let crl = resign_crl(setup, &[&issuer])?;
    let signer = retire_files(&files)?;
    spread_trust(&mut survey, signer, crl, say)?;
    retired(&files)?;
    say("the old CA is retired: only the new one is trusted".into());
    Ok(())
}

/// The arguments of `stackboxd cluster rotate-ca`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The stage to run (or `status`).
    #[arg(value_enum)]
    pub step: Step,
    /// The cluster configuration (the one the last `cluster install` assigned).
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::runner::CONFIG_PATH)]
    pub config: PathBuf,
    /// The wizard's state directory (this node's agent credentials are in `cluster/node/`, the CRL in
    /// `cluster/`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The agents' port.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
}

/// Runs `stackboxd cluster rotate-ca`: exit 0 when the stage is done, 1 otherwise.
pub fn run(args: &RotateArgs) -> std::process::ExitCode {
    let setup = Setup {
        config: args.config.clone(),
        state_dir: args.state.clone(),
        port: args.agent_port,
        ..Setup::default()
    };
    let mut say = |line: String| println!("{line}");
    let done = match args.step {
        Step::Status => status(&setup).map(|text| print!("{text}")),
        Step::Trust | Step::Sign | Step::Retire => {
            // Only on the CA's holder, a node of the configuration.
            let holder = stackbox_installer::load_config(&setup.config)
                .map_err(CoordError::from)
                .and_then(|config| crate::coordinator::this_node(&config, &setup).map(|_| ()));
            holder
                .map_err(RotateError::from)
                .and_then(|()| match args.step {
                    Step::Trust => trust(&setup, &mut say),
                    Step::Sign => sign(&setup, &mut say),
                    _ => retire(&setup, &mut say),
                })
        }
    };
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "stackboxd cluster rotate-ca: {}",
                stackbox_common::error::chain(&e)
            );
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    fn files(dir: &Path) -> Files {
        let paths = certificate::Paths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            endpoint: dir.join("endpoint.pem"),
        };
        certificate::ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap();
        Files::of(&paths)
    }

    /// Whether the signer's key belongs to the first certificate of the CA file.
    fn signer_is_whole(f: &Files) -> bool {
        certificate::ensure_ca(&f.ca_cert, &f.ca_key).is_ok()
    }

    fn leaf_of(f: &Files) -> String {
        let (issuer, _) = certificate::ensure_ca(&f.ca_cert, &f.ca_key).unwrap();
        stackbox_installer::service_tls::issue(&issuer, &["n1".to_owned()])
            .unwrap()
            .expose()
            .to_owned()
    }

    fn signed_by(ca: &str, leaf: &str) -> bool {
        let at = leaf.find("-----BEGIN PRIVATE KEY-----").unwrap();
        judge("leaf", ca, &leaf[..at], &leaf[at..], &[]).is_ok()
    }

    #[test]
    fn the_three_stages_move_the_signer_and_the_trust_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let old = read(&f.ca_cert).unwrap();
        let old_leaf = leaf_of(&f);
        assert_eq!(f.stage(), Stage::Settled);

        let bundle = trust_files(&f).unwrap();
        assert_eq!(f.stage(), Stage::Trusting);
        let certs = certificates(&bundle);
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0], old, "the old CA still signs, first");
        let subject = |pem: &str| {
            let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
            block.parse_x509().unwrap().subject().to_string()
        };
        assert_ne!(
            subject(&certs[0]),
            subject(&certs[1]),
            "two CAs of one name would be confused"
        );
        assert_eq!(read(&f.ca_cert).unwrap(), bundle);
        assert!(signer_is_whole(&f));
        assert!(signed_by(&bundle, &old_leaf));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&f.next_key).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        // Again: the same new CA, the same bundle.
        assert_eq!(trust_files(&f).unwrap(), bundle);

        let bundle = sign_files(&f).unwrap();
        assert_eq!(f.stage(), Stage::Signing);
        let certs = certificates(&bundle);
        assert_eq!(certs[1], old, "the old CA is still trusted, second");
        assert_ne!(certs[0], old);
        assert!(
            signer_is_whole(&f),
            "the new key signs for the first certificate"
        );
        let new_leaf = leaf_of(&f);
        assert!(signed_by(&bundle, &new_leaf));
        assert!(
            !signed_by(&bundle, &old_leaf),
            "the old CA's leaf is stale now"
        );
        assert!(!f.next_key.exists() && !f.next_cert.exists());
        assert_eq!(read(&f.previous).unwrap(), old);
        assert_eq!(sign_files(&f).unwrap(), bundle, "again: nothing changes");

        let only = retire_files(&f).unwrap();
        assert_eq!(certificates(&only), vec![certs[0].clone()]);
        assert_eq!(f.stage(), Stage::Signing, "until every node has it");
        retired(&f).unwrap();
        assert_eq!(f.stage(), Stage::Settled);
        assert!(signer_is_whole(&f));
    }

    /// `openssl verify` of `leaf` (certificate and key) against the CAs in `bundle`: as MariaDB's
    /// Galera peers and Python's clients verify (OpenSSL finds the issuer by name and key identifier).
    fn openssl_verifies(dir: &Path, bundle: &str, leaf: &str) -> bool {
        let at = leaf.find("-----BEGIN PRIVATE KEY-----").unwrap();
        std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
        std::fs::write(dir.join("leaf.pem"), &leaf[..at]).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile", "bundle.pem", "leaf.pem"])
            .current_dir(dir)
            .output()
            .expect("openssl (deps/web.txt) must be installed");
        out.status.success()
    }

    #[test]
    fn openssl_verifies_either_cas_leaves_against_the_bundle_in_either_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let old_leaf = leaf_of(&f);
        let trusting = trust_files(&f).unwrap();
        let signing = sign_files(&f).unwrap();
        let new_leaf = leaf_of(&f);
        for bundle in [&trusting, &signing] {
            assert!(openssl_verifies(dir.path(), bundle, &old_leaf));
            assert!(openssl_verifies(dir.path(), bundle, &new_leaf));
        }
        let retired = retire_files(&f).unwrap();
        assert!(openssl_verifies(dir.path(), &retired, &new_leaf));
        assert!(!openssl_verifies(dir.path(), &retired, &old_leaf));
    }

    #[test]
    fn stages_out_of_order_are_refused_and_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let before = read(&f.ca_cert).unwrap();
        for (err, says) in [
            (sign_files(&f).unwrap_err(), "rotate-ca trust` first"),
            (retire_files(&f).unwrap_err(), "nothing to retire"),
        ] {
            assert!(matches!(err, RotateError::Order(_)), "{err:?}");
            assert!(err.to_string().contains(says), "{err}");
        }
        assert_eq!(read(&f.ca_cert).unwrap(), before);
        trust_files(&f).unwrap();
        let err = retire_files(&f).unwrap_err();
        assert!(err.to_string().contains("rotate-ca sign` first"), "{err}");
        sign_files(&f).unwrap();
        let err = trust_files(&f).unwrap_err();
        assert!(err.to_string().contains("retire"), "{err}");
        let paths = certificate::Paths {
            ca_cert: f.ca_cert.clone(),
            ca_key: f.ca_key.clone(),
            endpoint: dir.path().join("endpoint.pem"),
        };
        assert!(under_way(&paths).unwrap().contains("rotate-ca retire"));
    }

    #[test]
    fn a_sign_killed_in_the_middle_is_finished_by_its_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let old = read(&f.ca_cert).unwrap();
        trust_files(&f).unwrap();
        let next = read(&f.next_cert).unwrap();
        // Killed after the old certificate was kept and the key swapped, before the bundle was written:
        // the key no longer fits the first certificate.
        write(&f.previous, &old, 0o644).unwrap();
        write(&f.ca_key, &read(&f.next_key).unwrap(), 0o600).unwrap();
        assert!(!signer_is_whole(&f));
        assert_eq!(f.stage(), Stage::Trusting);
        let bundle = sign_files(&f).unwrap();
        assert_eq!(certificates(&bundle), vec![next, old]);
        assert!(signer_is_whole(&f));
        assert_eq!(f.stage(), Stage::Signing);
    }

    #[test]
    fn a_new_ca_without_its_key_is_not_swapped_in() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        trust_files(&f).unwrap();
        write(&f.next_key, "not a key", 0o600).unwrap();
        let before = read(&f.ca_key).unwrap();
        assert!(sign_files(&f).is_err());
        assert_eq!(read(&f.ca_key).unwrap(), before);
        assert!(!f.previous.exists());
    }

    #[test]
    fn status_names_the_stage_and_each_cas_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let setup = Setup {
            ca: certificate::Paths {
                ca_cert: f.ca_cert.clone(),
                ca_key: f.ca_key.clone(),
                endpoint: dir.path().join("endpoint.pem"),
            },
            ..Setup::default()
        };
        let settled = status(&setup).unwrap();
        assert!(
            settled.starts_with("no rotation under way\nsigns: SHA256:"),
            "{settled}"
        );
        assert_eq!(settled.lines().count(), 2, "{settled}");
        trust_files(&f).unwrap();
        let trusting = status(&setup).unwrap();
        assert!(trusting.contains("next `rotate-ca sign`"), "{trusting}");
        assert!(
            trusting.contains("\ntrusted: SHA256:") && trusting.contains("\nnext: SHA256:"),
            "{trusting}"
        );
        sign_files(&f).unwrap();
        let signing = status(&setup).unwrap();
        assert!(signing.contains("next `rotate-ca retire`"), "{signing}");
        assert!(!signing.contains("next: "), "{signing}");
        // The CA that signs now was the next one.
        let signer = signing.lines().nth(1).unwrap();
        assert!(
            trusting.contains(&signer.replace("signs:", "next:")),
            "{trusting}\n{signing}"
        );
    }

    #[test]
    fn certificates_are_split_in_order() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----";
        assert_eq!(
            certificates(text),
            vec![
                "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n".to_owned(),
                "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n".to_owned(),
            ]
        );
        assert!(certificates("-----BEGIN CERTIFICATE-----\nA\n").is_empty());
        assert!(certificates("").is_empty());
    }
}
