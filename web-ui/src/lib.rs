//! The setup wizard: actix-web server, askama templates, static assets and the JSON API.
//!
//! Not implemented yet: this crate is a placeholder in the workspace layout of DESIGN.md and exports nothing.
