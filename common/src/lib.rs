//! Shared plumbing for every stackbox crate: the one command runner, blocking and async ([`cmd`]), file
//! writes that never leave a half-written file behind ([`fs`]), secrets that never reach a log
//! ([`secret`]), the PKI helpers: CA, leaf certificates, fingerprints ([`pki`]), PBKDF2 compiled optimised even in debug builds ([`kdf`]), TOML parsing whose
//! errors name file, line and key ([`toml_file`]), operator values cut for messages ([`text`]), errors
//! on one line with each cause once ([`error`]), what the command-line front ends share ([`cli`]) and,
//! behind the `test-utils` feature, the golden-file helper and mutations for property tests
//! ([`test_utils`]).

pub mod cli;
pub mod cmd;
pub mod error;
pub mod fs;
pub mod kdf;
pub mod pki;
pub mod secret;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod text;
pub mod toml_file;
