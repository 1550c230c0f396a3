//! The wizard's identity, made at first boot: a one-time setup token and a self-signed TLS certificate
//! whose SHA-256 fingerprint the console shows, so the operator can tell the real wizard from an impostor.
//!
//! Both live in the state directory; the token and the private key are mode 0600 and never logged.

use std::path::{Path, PathBuf};

use anyhow::Context;

use stackbox_common::fs::write_atomic;
use stackbox_common::pki;
use stackbox_common::secret::random_string;

/// The port the wizard listens on.
pub const WIZARD_PORT: u16 = 8443;

/// The setup token's file name in the state directory.
pub const TOKEN_FILE: &str = "setup-token";
/// The certificate's path relative to the state directory.
pub const CERT_FILE: &str = pki::WIZARD_CERT_FILE;
/// The private key's path relative to the state directory.
pub const KEY_FILE: &str = "tls/wizard.key";

/// Letters and digits that cannot be mistaken for one another on a console font (no 0/O, 1/I/L, 2/Z,
/// 5/S, 8/B, U/V).
const TOKEN_ALPHABET: &[u8] = b"34679ACDEFGHJKMNPQRTWXY";
/// Characters in a token: 20 from 23 symbols is about 90 bits.
const TOKEN_CHARS: usize = 20;

pub use stackbox_common::secret::Secret;

/// The token and certificate the wizard uses.
#[derive(Debug, Clone)]
pub struct WizardIdentity {
    /// The one-time setup token.
    pub token: Secret,
    /// `SHA256:AB:CD:...` of the certificate's DER encoding.
    pub fingerprint: String,
    /// Where the certificate is.
    pub cert_path: PathBuf,
    /// Where the private key is.
    pub key_path: PathBuf,
}

/// Generates a setup token: four groups of five from an unambiguous alphabet, uniformly random.
pub fn generate_token() -> anyhow::Result<Secret> {
    let raw = random_string(TOKEN_ALPHABET, TOKEN_CHARS)?;
    let groups: Vec<&str> = (0..TOKEN_CHARS)
        .step_by(5)
        .map(|i| &raw[i..i + 5])
        .collect();
    Ok(Secret::from(groups.join("-")))
}

/// Loads the token and certificate from `state_dir`, creating whichever is missing. `names` are the host
/// names and addresses the certificate is valid for (used only when it is created).
pub fn ensure(state_dir: &Path, names: &[String]) -> anyhow::Result<WizardIdentity> {
    let token_path = state_dir.join(TOKEN_FILE);
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) if !t.trim().is_empty() => Secret::from(t.trim().to_owned()),
        _ => {
            let token = generate_token()?;
            write_atomic(
                &token_path,
                format!("{}\n", token.expose()).as_bytes(),
                0o600,
            )
            .with_context(|| format!("writing {}", token_path.display()))?;
            token
        }
    };
    let cert_path = state_dir.join(CERT_FILE);
    let key_path = state_dir.join(KEY_FILE);
    if !(cert_path.exists() && key_path.exists()) {
        // A server certificate of two years (pki::LEAF_DAYS): the wizard keeps running on the controller.
        let mut params = pki::leaf_params(names, "stackbox setup wizard", pki::Purpose::Server)
            .context("the wizard's certificate")?;
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "stackbox appliance");
        let (cert, key) =
            pki::new_self_signed(params).context("making the wizard's certificate")?;
        // Key first: a certificate without its key would be taken as complete on the next run.
        write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .with_context(|| format!("writing {}", key_path.display()))?;
        write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)
            .with_context(|| format!("writing {}", cert_path.display()))?;
    }
    Ok(WizardIdentity {
        token,
        fingerprint: pki::fingerprint_pem_file(&cert_path)?,
        cert_path,
        key_path,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn tokens_are_grouped_unambiguous_and_distinct() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        let t = a.expose();
        assert_eq!(t.len(), 23, "{t}");
        let groups: Vec<&str> = t.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 5));
        assert!(t.bytes().all(|c| c == b'-' || TOKEN_ALPHABET.contains(&c)));
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
    }

    #[test]
    fn fingerprint_format() {
        let fp = pki::fingerprint(b"abc");
        assert!(fp.starts_with("SHA256:BA:78:16:BF:"), "{fp}");
        assert_eq!(fp.len(), "SHA256:".len() + 32 * 3 - 1);
    }

    #[test]
    fn ensure_creates_once_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["stackbox".to_owned(), "10.0.2.15".to_owned()];
        let first = ensure(dir.path(), &names).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join(TOKEN_FILE)), 0o600);
        assert_eq!(mode(&first.key_path), 0o600);
        assert_eq!(mode(&first.cert_path), 0o644);
        let again = ensure(dir.path(), &names).unwrap();
        assert_eq!(first.token, again.token);
        assert_eq!(first.fingerprint, again.fingerprint);
        let pem = std::fs::read_to_string(&first.cert_path).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure(dir.path(), &["bäd-nämé".to_owned()]).is_err());
    }
}
