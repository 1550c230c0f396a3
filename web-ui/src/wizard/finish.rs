//! The end of the flow: start the installation (or retry it after a failure: the journal resumes it),
//! take the one-time admin credentials, and the cluster CA's certificate.

use std::io::Write as _;

use anyhow::Context;
use stackbox_installer::progress::Phase;

use super::Wizard;
use crate::error::WebError;

/// The marker that the one-time credentials download happened.
pub const OPENRC_TAKEN: &str = "openrc.downloaded";
/// Where the cluster's CA certificate is on the appliance.
pub const CA_FILE: &str = "/etc/stackbox/ca.pem";
/// Where the openrc file expects the CA on the operator's machine.
pub const CA_ON_CLIENT: &str = "$HOME/stackbox-ca.pem";

/// Starts the installation, or retries it after a failure (the journal resumes it). A complete
/// installation is run again (its result replaced) only when `reinstall` asks for it. Blocking (the
/// configuration is written and planned first).
pub fn start_install(wizard: &Wizard, reinstall: bool) -> Result<(), WebError> {
    match wizard.runner.progress().phase {
        Phase::Running => {
            return Err(WebError::InstallRunning(
                "the installation is already running".to_owned(),
            ));
        }
        Phase::Complete if !reinstall => {
            return Err(WebError::Installed(
                "the installation is complete; to run it again (its result is replaced), post \
                 {\"reinstall\": true} to /api/v1/install"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    let config = wizard.cluster_config()?;
    let prepared = wizard.runner.prepare(&config, wizard.root())?;
    tracing::info!(
        "installation started{}",
        if wizard.runner.mode().plan_only() {
            " in plan mode"
        } else {
            ""
        }
    );
    Ok(wizard.runner.start(prepared)?)
}

/// The admin openrc, once: the first call after a complete installation returns it and marks it taken
/// (mode 0600 marker in the state directory); every later call is `Gone`.
pub fn take_openrc(wizard: &Wizard) -> Result<String, WebError> {
    let progress = wizard.runner.progress();
    if progress.phase != Phase::Complete {
        return Err(WebError::Conflict(
            "the admin credentials are offered once the installation is complete".to_owned(),
        ));
    }
    let config = progress
        .config
        .ok_or_else(|| WebError::Conflict("the installation has no configuration".to_owned()))?;
    let (_, secrets_path, _) = wizard.runner.mode().paths(wizard.state_dir());
    // The installation made the secrets: never make new ones here, which would hand out a password the
    // cloud never had (and overwrite nothing the cloud uses).
    if !secrets_path.exists() {
        return Err(WebError::Conflict(format!(
            "the secrets file {} is missing: the admin password cannot be read",
            secrets_path.display()
        )));
    }
    let secrets = stackbox_installer::secrets::Secrets::load_or_generate(&secrets_path)
        .map_err(|e| WebError::from(e).context("reading the secrets"))?;
    let password = secrets
        .get("admin")
        .ok_or_else(|| WebError::Internal(anyhow::anyhow!("the secrets have no admin password")))?;
    let marker = wizard.state_dir().join(OPENRC_TAKEN);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_0600()
        .open(&marker)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => WebError::Gone(
                "the admin credentials were downloaded already; they are offered once (the \
                 appliance's /etc/stackbox/secrets.toml holds them)"
                    .to_owned(),
            ),
            _ => WebError::Internal(anyhow::Error::new(e).context("marking the credentials taken")),
        })?;
    let _ = writeln!(file, "downloaded");
    Ok(
        stackbox_installer::flavor::openstack::endpoints::admin_openrc(
            &config,
            password.expose(),
            CA_ON_CLIENT,
        ),
    )
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// The cluster CA certificate (public), once the installation made it.
pub fn ca_pem(wizard: &Wizard) -> Result<String, WebError> {
    if wizard.runner.mode().plan_only() {
        return Err(WebError::Conflict(
            "plan mode made no certificate authority".to_owned(),
        ));
    }
    match std::fs::read_to_string(CA_FILE) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(WebError::NotFound),
        read => Ok(read.with_context(|| format!("reading {CA_FILE}"))?),
    }
}

/// Whether the one-time credentials were downloaded already.
pub fn openrc_taken(wizard: &Wizard) -> bool {
    wizard.state_dir().join(OPENRC_TAKEN).exists()
}
