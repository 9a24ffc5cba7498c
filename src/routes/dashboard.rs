//! `GET /`: the on-call dashboard (static HTML, CSS and JavaScript embedded in the binary).
//!
//! The page is a client of `/v1` and nothing else, so serving it needs no state and no token:
//! the data behind it stays behind the API token. Its Content-Security-Policy allows only this
//! origin, with no inline script or style, so even an alert title that got past the page's own
//! escaping could not run.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

/// Only this origin, for everything; no framing, no `<base>`, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../dashboard/index.html"),
};

/// Everything the page loads, under `/dashboard/`.
const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../dashboard/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../dashboard/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../dashboard/favicon.svg"),
    },
];

/// `GET /`
pub async fn page() -> HttpResponse {
    serve(&INDEX)
}

/// `GET /dashboard/{file}`
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == file.as_str())
        .map(serve)
        .ok_or(ApiError::NoSuchEndpoint)
}

fn serve(asset: &Asset) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(asset.content_type)
        // Small and served locally: always revalidate, so an upgrade shows at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for reference in [
            "/dashboard/app.js",
            "/dashboard/app.css",
            "/dashboard/favicon.svg",
        ] {
            assert!(INDEX.body.contains(reference), "{reference}");
            let name = reference.trim_start_matches("/dashboard/");
            assert!(ASSETS.iter().any(|asset| asset.name == name), "{name}");
        }
        let everything = [INDEX.body, ASSETS[0].body, ASSETS[1].body].concat();
        assert!(!everything.contains("http://") && !everything.contains("https://"));
        assert!(!INDEX.body.contains("<script>") && !INDEX.body.contains("style="));
    }
}
