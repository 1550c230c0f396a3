//! Redaction at the source, for the support bundle: every secret the appliance generated is replaced
//! wherever it appears, as written, URL-encoded and base64-encoded (at each of the three alignments a
//! value can take inside a longer base64 text); then PEM blocks of private keys, passwords in URLs
//! (`scheme://user:PASSWORD@host`) and the values of keys that name a password, secret, token, key or
//! cookie. [`Redactor::check`] then looks for every known secret again, in every form, and refuses
//! (fail closed) when one is left. The [`Report`] says which file, which rule and how many times, never a
//! value.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use regex::Regex;

/// The shortest secret value redacted by value: shorter ones would match ordinary text (generated
/// secrets are far longer; key patterns still catch short ones in configuration).
pub const MIN_SECRET_LEN: usize = 8;
/// The shortest base64 core matched (6 bytes of the value): shorter ones match by chance.
const MIN_CORE_LEN: usize = 8;

/// How a known secret was written where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// As it is.
    Raw,
    /// Percent-encoded (in a URL).
    UrlEncoded,
    /// Inside base64 text.
    Base64,
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Form::Raw => "as written",
            Form::UrlEncoded => "URL-encoded",
            Form::Base64 => "base64",
        })
    }
}

/// One known secret: its name and the texts it may appear as.
#[derive(Clone)]
struct Known {
    name: String,
    forms: Vec<(Form, String)>,
}

/// The texts `value` appears as: itself, percent-encoded when that differs, and the base64 cores: for
/// each alignment `j` of the value against base64's 3-byte groups, the encoding of the whole groups of
/// `value[j..]`, which every base64 text carrying `value` contains for one `j` (standard and URL-safe).
fn forms(value: &str) -> Vec<(Form, String)> {
    let mut out = vec![(Form::Raw, value.to_owned())];
    let encoded = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    if encoded != value {
        out.push((Form::UrlEncoded, encoded));
    }
    let bytes = value.as_bytes();
    for j in 0..3.min(bytes.len()) {
        let rest = &bytes[j..];
        let whole = &rest[..rest.len() / 3 * 3];
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let core = engine.encode(whole);
            if core.len() >= MIN_CORE_LEN && !out.iter().any(|(_, t)| *t == core) {
                out.push((Form::Base64, core));
            }
        }
    }
    out
}

/// What was redacted: per file, per rule, how many times. Never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    counts: BTreeMap<(String, String), usize>,
}

impl Report {
    fn add(&mut self, file: &str, rule: String, n: usize) {
        if n > 0 {
            *self.counts.entry((file.to_owned(), rule)).or_default() += n;
        }
    }

    /// How many redactions `rule` made in `file`.
    pub fn count(&self, file: &str, rule: &str) -> usize {
        self.counts
            .get(&(file.to_owned(), rule.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (file, rule, count), sorted: what travels in a node's part of a bundle.
    pub fn entries(&self) -> Vec<(String, String, usize)> {
        self.counts
            .iter()
            .map(|((file, rule), n)| (file.clone(), rule.clone(), *n))
            .collect()
    }

    /// Adds `entries` (another node's), each file under `prefix`.
    pub fn extend(&mut self, prefix: &str, entries: &[(String, String, usize)]) {
        for (file, rule, n) in entries {
            self.add(&format!("{prefix}{file}"), rule.clone(), *n);
        }
    }

    /// Every redaction made.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// The report as the bundle carries it: one line per file and rule.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# What was redacted from this bundle: file, rule, count. Values are never listed.\n",
        );
        for ((file, rule), n) in &self.counts {
            out.push_str(&format!("{file}\t{rule}\t{n}\n"));
        }
        if self.counts.is_empty() {
            out.push_str("# nothing\n");
        }
        out
    }
}

/// A known secret left in a file after redaction: the bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file} still holds the secret `{secret}` ({form}) after redaction: the bundle was not written"
)]
pub struct Leak {
    /// The file in the bundle.
    pub file: String,
    /// The secret's name (never its value).
    pub secret: String,
    /// How it is written there.
    pub form: Form,
}

static PEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    )
    .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/\s@]*:)([^@\s/]+)@")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?im)^(\s*"?(?:[A-Za-z0-9_.-]*(?:password|passwd|secret|token|cookie|credential)[A-Za-z0-9_.-]*|[A-Za-z0-9_.-]*key)"?\s*[=:]\s*)("[^"\n]*"|[^\s,#]+)"#,
    )
    .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// Redacts texts with the known secrets and the patterns.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Vec<Known>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.known.iter().map(|k| k.name.as_str()).collect();
        f.debug_struct("Redactor").field("known", &names).finish()
    }
}

impl Redactor {
    /// A redactor for the secrets `(name, value)`; values shorter than [`MIN_SECRET_LEN`] are left to the
    /// patterns.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut known: Vec<Known> = secrets
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_SECRET_LEN)
            .map(|(name, value)| Known {
                name: name.to_owned(),
                forms: forms(value),
            })
            .collect();
        // Longer values first: one secret inside another is replaced whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.forms[0].1.len()));
        Redactor { known }
    }

    /// How many secrets it knows.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether it knows no secret.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// `text` (the bundle's `file`) redacted; what was replaced goes into `report`.
    pub fn redact(&self, file: &str, text: &str, report: &mut Report) -> String {
        let mut out = text.to_owned();
        for k in &self.known {
            for (form, value) in &k.forms {
                let n = out.matches(value.as_str()).count();
                if n > 0 {
                    out = out.replace(value.as_str(), &format!("[REDACTED:{}]", k.name));
                    report.add(file, format!("secret {} ({form})", k.name), n);
                }
            }
        }
        let n = PEM.find_iter(&out).count();
        report.add(file, "PEM private key".to_owned(), n);
        out = PEM.replace_all(&out, "[REDACTED:$1]").into_owned();
        let n = URL_PASSWORD
            .find_iter(&out)
            .filter(|m| !m.as_str().contains("[REDACTED"))
            .count();
        report.add(file, "password in a URL".to_owned(), n);
        out = URL_PASSWORD
            .replace_all(&out, |c: &regex::Captures<'_>| {
                if c[2].starts_with("[REDACTED") {
                    c[0].to_owned()
                } else {
                    format!("{}[REDACTED]@", &c[1])
                }
            })
            .into_owned();
        let mut n = 0;
        out = KEY_VALUE
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let value = c[2].trim_matches('"');
                if value.is_empty() || value.starts_with("[REDACTED") {
                    c[0].to_owned()
                } else {
                    n += 1;
                    format!("{}[REDACTED]", &c[1])
                }
            })
            .into_owned();
        report.add(
            file,
            "value of a password, secret, token or key".to_owned(),
            n,
        );
        out
    }

    /// Fails when `text` (the bundle's `file`, redacted) still holds a known secret in any form.
    pub fn check(&self, file: &str, text: &str) -> Result<(), Leak> {
        for k in &self.known {
            for (form, value) in &k.forms {
                if text.contains(value.as_str()) {
                    return Err(Leak {
                        file: file.to_owned(),
                        secret: k.name.clone(),
                        form: *form,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "Xq7pL2mN9vR4tY8w";
    const RABBIT: &str = "k3J/9+zQ==aB&c";

    fn redactor() -> Redactor {
        Redactor::new([("db-nova", DB), ("rabbit", RABBIT), ("short", "abc")])
    }

    #[test]
    fn known_secrets_go_in_every_form_and_the_report_counts_them() {
        let r = redactor();
        assert_eq!(
            r.len(),
            2,
            "a value shorter than the minimum is left to the patterns"
        );
        let url = utf8_percent_encode(RABBIT, NON_ALPHANUMERIC).to_string();
        let text = format!(
            "connection = mysql+pymysql://nova:{DB}@10.20.0.10/nova\n\
             transport_url = rabbit://openstack:{url}@10.20.0.11:5672/\n\
             log: retried with {DB} twice: {DB}\n"
        );
        let mut report = Report::default();
        let out = r.redact("etc/nova/nova.conf", &text, &mut report);
        assert!(!out.contains(DB) && !out.contains(&url), "{out}");
        assert_eq!(
            report.count("etc/nova/nova.conf", "secret db-nova (as written)"),
            3
        );
        assert_eq!(
            report.count("etc/nova/nova.conf", "secret rabbit (URL-encoded)"),
            1
        );
        r.check("etc/nova/nova.conf", &out).unwrap();
        assert!(!report.render().contains(DB), "{}", report.render());
    }

    #[test]
    fn a_secret_inside_base64_is_found_at_every_alignment() {
        let r = redactor();
        for prefix in ["", "x", "xy", "xyz"] {
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                let blob = engine.encode(format!("{prefix}user:{DB}:tail"));
                let mut report = Report::default();
                let out = r.redact("f", &format!("Authorization: Basic {blob}\n"), &mut report);
                assert!(
                    report.count("f", "secret db-nova (base64)") >= 1,
                    "prefix {prefix:?}: {out}"
                );
                r.check("f", &out).unwrap();
            }
        }
    }

    #[test]
    fn pem_keys_url_passwords_and_key_values_are_redacted_by_pattern() {
        let r = Redactor::default();
        let text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\
                    url = amqp://guest:hunter2@localhost:5672/\n\
                    password = hunter2\n\
                    memcache_secret_key = s3cr3t\n\
                    \"password_hash\": \"$argon2id$v=19$abc\",\n\
                    auth_type = password\n\
                    admin_user = admin\n";
        let mut report = Report::default();
        let out = r.redact("f", text, &mut report);
        assert!(!out.contains("MIIEvQIBADANBg"), "{out}");
        assert!(out.contains("[REDACTED:PRIVATE KEY]"), "{out}");
        assert!(
            out.contains("BEGIN CERTIFICATE"),
            "certificates are public: {out}"
        );
        assert!(
            !out.contains("hunter2") && !out.contains("s3cr3t") && !out.contains("argon2id"),
            "{out}"
        );
        assert!(out.contains("auth_type = password"), "{out}");
        assert!(out.contains("admin_user = admin"), "{out}");
        assert_eq!(report.count("f", "PEM private key"), 1);
        assert_eq!(report.count("f", "password in a URL"), 1);
        assert_eq!(
            report.count("f", "value of a password, secret, token or key"),
            3
        );
    }

    #[test]
    fn a_secret_left_behind_refuses_the_bundle_naming_file_and_secret_never_the_value() {
        let r = redactor();
        for (text, form) in [
            (format!("x {DB} y"), Form::Raw),
            (
                format!("x {} y", utf8_percent_encode(RABBIT, NON_ALPHANUMERIC)),
                Form::UrlEncoded,
            ),
            (
                format!("x {} y", STANDARD_NO_PAD.encode(format!("ab{DB}"))),
                Form::Base64,
            ),
        ] {
            let leak = r.check("var/log/x.log", &text).unwrap_err();
            assert_eq!(leak.file, "var/log/x.log");
            assert_eq!(leak.form, form, "{text}");
            let said = leak.to_string();
            assert!(!said.contains(DB) && !said.contains(RABBIT), "{said}");
        }
        r.check("f", "nothing here").unwrap();
    }
}
