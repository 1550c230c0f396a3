//! Shared plumbing for every stackbox crate: the one command runner ([`cmd`]) and file writes that never
//! leave a half-written file behind ([`fs`]), and TOML parsing whose errors name file, line and key
//! ([`toml_file`]).

pub mod cmd;
pub mod fs;
pub mod secret;
pub mod test_utils;
pub mod toml_file;
