//! The server-rendered pages (askama), one module per part of the walk: signing in ([`sign_in`]), the
//! hardware report, network and cluster ([`setup`]), the install to disk of a live system ([`disk`]), roles and settings ([`choices`]), a joined node's
//! roles ([`nodes`]), growing and shrinking the cluster ([`operate`]), and review,
//! install and done ([`finish`]). Every form works without JavaScript and carries the session's CSRF
//! token, checked by the [`crate::chrome::AdminForm`] extractor before a handler runs; bad input is shown
//! back, escaped, with a message beside its field, and nothing is stored. The handlers call the
//! wizard's flow ([`crate::wizard`]) and render its answers; the layout is [`crate::chrome`]'s.

pub mod choices;
pub mod desk;
pub mod diagnose;
pub mod disk;
pub mod finish;
pub mod net;
pub mod nodes;
pub mod operate;
pub mod setup;
pub mod sign_in;

use actix_web::{HttpResponse, web};

use crate::chrome::PageError;
use crate::error::WebError;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(sign_in::index))
        .route("/login", web::get().to(sign_in::login_form))
        .route("/login", web::post().to(sign_in::login_submit))
        .route("/logout", web::post().to(sign_in::logout))
        .route("/set-password", web::get().to(sign_in::set_password_form))
        .route("/password", web::get().to(sign_in::change_password_form))
        .route("/password", web::post().to(sign_in::change_password_submit))
        .route(
            "/set-password",
            web::post().to(sign_in::set_password_submit),
        )
        .route("/hardware", web::get().to(setup::hardware))
        .route("/hardware/rerun", web::post().to(setup::hardware_rerun))
        .route("/disk", web::get().to(disk::disk_view))
        .route("/disk", web::post().to(disk::disk_submit))
        .route("/network", web::get().to(setup::network_form))
        .route("/network", web::post().to(setup::network_submit))
        .route("/network/apply", web::post().to(net::apply))
        .route("/network/confirm", web::get().to(net::confirm_form))
        .route("/network/confirm", web::post().to(net::confirm_submit))
        .route("/cluster", web::get().to(setup::cluster_form))
        .route("/cluster", web::post().to(setup::cluster_submit))
        .route("/cluster/code", web::post().to(setup::cluster_code))
        .route("/cluster/join", web::post().to(setup::cluster_join))
        .route(
            "/cluster/nodes/{name}",
            web::get().to(nodes::node_roles_form),
        )
        .route(
            "/cluster/nodes/{name}",
            web::post().to(nodes::node_roles_submit),
        )
        .route(
            "/cluster/nodes/{name}/remove",
            web::get().to(operate::remove_form),
        )
        .route(
            "/cluster/nodes/{name}/remove",
            web::post().to(operate::remove_start),
        )
        .route("/cluster/grow", web::post().to(operate::grow_start))
        .route(
            operate::OPERATION_PAGE,
            web::get().to(operate::operation_view),
        )
        .route("/cluster/status", web::get().to(operate::status_view))
        .route("/support-bundle", web::get().to(operate::support_bundle))
        .route("/log", web::get().to(operate::wizard_log))
        .route("/diagnose", web::get().to(diagnose::diagnose_view))
        .route("/desk", web::get().to(desk::desk_view))
        .route("/desk/restart", web::post().to(desk::restart_submit))
        .route("/roles", web::get().to(choices::roles_form))
        .route("/roles", web::post().to(choices::roles_submit))
        .route("/settings", web::get().to(choices::settings_form))
        .route("/settings", web::post().to(choices::settings_submit))
        .route("/review", web::get().to(finish::review_page))
        .route(
            "/review/answers.toml",
            web::get().to(finish::answers_download),
        )
        .route("/install", web::get().to(finish::install_view))
        .route("/install", web::post().to(finish::install_start))
        .route("/install/log", web::get().to(finish::install_log))
        .route("/done", web::get().to(finish::done_view))
        .route("/done/openrc", web::post().to(finish::openrc_download))
        .route("/done/ca.pem", web::get().to(finish::ca_download))
        .default_service(web::to(|req: actix_web::HttpRequest| async move {
            Err::<HttpResponse, _>(PageError(WebError::unrouted(
                req.method(),
                req.path(),
                "",
                ROUTES,
            )))
        }));
}

pub use crate::page_routes::ROUTES;
