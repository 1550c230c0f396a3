//! Static assets, compiled into the binary: only names in this table are served, so no request path
//! reaches the file system (a `..` or an encoded slash is simply not a name here). Also the downloads
//! the pages and the API hand out (the admin openrc, the CA certificate) as attachments.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::WebError;

/// The assets: name, media type, contents.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "wizard.css",
        "text/css; charset=utf-8",
        include_str!("../static/wizard.css"),
    ),
    (
        "forms.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/forms.js"),
    ),
    (
        "install.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/install.js"),
    ),
    (
        "network.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/network.js"),
    ),
    (
        "password.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/password.js"),
    ),
];

/// `GET /static/{name}`.
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, WebError> {
    let name = name.into_inner();
    let (_, mime, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(WebError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *mime))
        .body(*body))
}

/// A download: `body` as an attachment named `filename`.
pub fn attachment(content_type: &'static str, filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// A gzip'd tar as a download named `filename`.
pub fn archive(filename: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/gzip"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// The admin openrc file as a download.
pub fn openrc(text: String) -> HttpResponse {
    attachment("text/plain; charset=utf-8", "admin-openrc.sh", text)
}
