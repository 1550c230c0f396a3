//! The setup wizard: an HTTPS server (actix-web, rustls, TLS 1.3 only) with askama pages that work
//! without JavaScript and a JSON API under `/api/v1` with the same model.
//!
//! Layout, from the top down (a module imports only modules below it):
//! - [`cli`] parses `stackboxd serve`'s arguments and runs [`server`], which binds and serves the
//!   application that [`app`] composes (routes, body limits, guards, security headers);
//! - [`pages`] (one module per part of the walk) and [`api`] are the handlers: thin, they turn requests
//!   into calls of the flow and its results into pages or JSON documents, and never call each other;
//! - [`chrome`] is what every page shares (layout, renderer, error page, the pages' refusals) and
//!   [`assets`] the static files and downloads;
//! - [`session`] holds the actix extractors through which a handler states what it needs (an admin
//!   session, a body whose CSRF token is checked), plus the session cookie;
//! - [`state`] is what the running wizard holds (options, identity, sessions, the limiter) around the
//!   [`wizard`]: the flow with no HTTP in it (create the cluster, assign roles, store settings, review,
//!   start the install, take the openrc), over the [`answers`] (network, cluster, roles, settings, and
//!   the installer's configuration made from them), the installer's runner and progress, and the
//!   [`operation`] on the cluster (growing it, removing a node: one progress for every node);
//! - [`agent`] is the node agent's own listener (mutual TLS, cluster certificates only, minus the
//!   revoked ones: [`revoking`]), thin over the cluster crate's agent;
//! - [`auth`] is the token, password, sessions and rate limit; [`connections`] what one client may
//!   hold of the server (connections per address, the body deadline); [`network`] the network form and its
//!   rules (moving to the network crate); [`error`] the errors and their problem documents.

pub mod agent;
pub mod answers;
pub mod api;
pub mod api_desk;
pub mod app;
pub mod assets;
pub mod auth;
pub mod chrome;
pub mod cli;
pub mod connections;
pub mod error;
pub mod network;
pub mod operation;
pub mod page_routes;
pub mod pages;
pub mod recent_log;
pub mod revoking;
pub mod server;
pub mod session;
pub mod state;
pub mod wizard;
pub mod zero_touch;

pub use server::{ServeError, serve};
pub use state::{AppState, ServeOptions};
