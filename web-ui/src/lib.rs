//! The setup wizard: an HTTPS server (actix-web, rustls, TLS 1.3 only) with askama pages that work
//! without JavaScript and a JSON API under `/api/v1` with the same model.
//!
//! Layout: [`server`] binds and runs; [`app`] holds the routes, guards and session helpers; [`pages`]
//! and [`api`] the handlers; [`auth`] the token, password, sessions and rate limit; [`network`] the
//! network form and its validation; [`roles`] the roles and settings; [`state`] what the running wizard holds; [`error`] the errors and
//! their problem documents.

pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod cluster_config;
pub mod error;
pub mod install;
pub mod install_pages;
pub mod network;
pub mod pages;
pub mod roles;
pub mod server;
pub mod setup_pages;
pub mod state;

pub use server::{ServeError, serve};
pub use state::{AppState, ServeOptions};
