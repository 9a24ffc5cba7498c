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

/// The [`Asset`] for `src/dashboard/{name}`: the name it is served under is its file's name.
macro_rules! embed {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../dashboard/", $name)),
        }
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

const INDEX: Asset = embed!("index.html", "text/html; charset=utf-8");

/// Everything the page loads, under `/dashboard/`: `app.js` and the ES modules it imports, the
/// style sheet and the icon.
const ASSETS: [Asset; 11] = [
    embed!("app.js", JAVASCRIPT),
    embed!("api.js", JAVASCRIPT),
    embed!("token.js", JAVASCRIPT),
    embed!("format.js", JAVASCRIPT),
    embed!("filters.js", JAVASCRIPT),
    embed!("list.js", JAVASCRIPT),
    embed!("detail.js", JAVASCRIPT),
    embed!("stream.js", JAVASCRIPT),
    embed!("stats.js", JAVASCRIPT),
    embed!("app.css", "text/css; charset=utf-8"),
    embed!("favicon.svg", "image/svg+xml"),
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

    fn embedded(name: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|asset| asset.name == name)
    }

    /// The page's ES modules: `app.js` and everything it imports.
    fn modules() -> impl Iterator<Item = &'static Asset> {
        ASSETS
            .iter()
            .filter(|asset| asset.content_type == JAVASCRIPT)
    }

    /// The values of every `attribute="…"` in `html`.
    fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
        let opening = format!(" {attribute}=\"");
        html.split(opening.as_str())
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect()
    }

    /// What each static `import` in `module` names. This page writes one import per line,
    /// `import { a, b } from './x.js';`; a line this cannot read fails the test rather than
    /// escape the checks.
    fn imports(module: &Asset) -> Vec<&'static str> {
        module
            .body
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("import ") || line.starts_with("import{"))
            .map(|line| {
                let statement = line.trim_end_matches(';');
                let quoted = match statement.rsplit_once(" from ") {
                    Some((_, quoted)) => quoted,
                    None => statement.trim_start_matches("import").trim_start(),
                };
                ['\'', '"']
                    .into_iter()
                    .find_map(|quote| quoted.strip_prefix(quote)?.strip_suffix(quote))
                    .unwrap_or_else(|| panic!("{}: cannot read `{line}`", module.name))
            })
            .collect()
    }

    #[test]
    fn the_page_loads_only_embedded_assets() {
        let mut references = attribute_values(INDEX.body, "src");
        references.extend(attribute_values(INDEX.body, "href"));
        for expected in [
            "/dashboard/app.js",
            "/dashboard/app.css",
            "/dashboard/favicon.svg",
        ] {
            assert!(references.contains(&expected), "{expected}");
        }
        for reference in references {
            let name = reference.strip_prefix("/dashboard/");
            assert!(name.and_then(embedded).is_some(), "{reference}");
        }
        assert!(INDEX
            .body
            .contains(r#"<script type="module" src="/dashboard/app.js"></script>"#));
        assert!(!INDEX.body.contains("<script>") && !INDEX.body.contains("style="));
        // Modules arrive with app.js rather than one round trip after it.
        for module in modules() {
            let preload = format!(
                r#"<link rel="modulepreload" href="/dashboard/{}">"#,
                module.name
            );
            assert!(
                module.name == "app.js" || INDEX.body.contains(&preload),
                "{preload}"
            );
        }
    }

    #[test]
    fn every_module_imported_is_embedded_and_every_embedded_module_is_imported() {
        let mut reached = vec!["app.js"];
        let mut next = 0;
        while let Some(&name) = reached.get(next) {
            next += 1;
            let module = embedded(name).unwrap_or_else(|| panic!("{name} is not embedded"));
            assert_eq!(module.content_type, JAVASCRIPT, "{name}");
            assert!(!module.body.contains("import("), "{name}: a dynamic import");
            for specifier in imports(module) {
                let imported = specifier.strip_prefix("./").unwrap_or_else(|| {
                    panic!("{name} imports `{specifier}`, not a file beside it")
                });
                if !reached.contains(&imported) {
                    reached.push(imported);
                }
            }
        }
        for module in modules() {
            assert!(
                reached.contains(&module.name),
                "{} is never imported",
                module.name
            );
        }
    }

    #[test]
    fn no_asset_refers_to_an_outside_url() {
        for asset in ASSETS.iter().chain([&INDEX]) {
            // An XML namespace is a name, never fetched.
            let body = asset
                .body
                .replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
            for outside in ["http:", "https:", "\"//", "'//", "`//", "(//"] {
                assert!(!body.contains(outside), "{}: {outside}", asset.name);
            }
        }
    }
}
