//! GraphiQL, served by c360 itself: the page `GET /graphql` answers a browser
//! with, and the React, GraphiQL and graphql-ws production builds it loads,
//! embedded in the binary from `assets/graphiql/` (copied there from the
//! pinned npm packages by `ecosystem/vendor-graphiql.mjs`). Nothing comes from
//! another origin, so the page works offline and its Content-Security-Policy
//! names no origin but this server's. Subscriptions typed in the page run
//! over a WebSocket to the same `/graphql` (graphql-transport-ws, with
//! graphql-ws's client; `assets/graphiql/init.js`).
//!
//! In a `serve --seed-demo --dev` session the page opens ready to run: the
//! demo staff token in the headers, the README's first query, and the
//! showcase customer as its variables.

use std::sync::LazyLock;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};

use crate::app::App;

/// What `serve --seed-demo --dev` minted and picked for the page to open
/// with. Kept on the [`App`] because the token exists only after the app is
/// built and the store seeded.
#[derive(Debug)]
pub struct DemoSession {
    /// The demo staff token, sent as `Authorization: Bearer …`.
    pub token: SecretString,
    /// The showcase customer's global id; `None` when the store has no
    /// customer with every kind of record.
    pub customer: Option<String>,
}

/// The README's first query ("A first query"), the demo session's default
/// document; a test keeps the README's copy equal to this one.
pub const PROFILE_QUERY: &str = include_str!("../../assets/graphiql/profile.graphql");

/// The default document without a demo session.
const BLANK_QUERY: &str = "\
# c360. Put a token in the Headers tab below: {\"Authorization\": \"Bearer <token>\"},
# then ask, for example:
#   { customers(first: 5) { edges { node { id email } } } }
";

/// The policy that keeps the page on this origin. Scripts only from files of
/// this server (the defaults travel in a JSON data block, which is not run).
/// GraphiQL's dialogs add `<style>` elements at run time, hence
/// 'unsafe-inline' for styles; its fonts are `data:` URLs in its CSS.
///
/// `connect-src 'self'` covers the subscriptions' WebSocket too: since CSP
/// Level 3, 'self' matches `ws:` on an `http:` page and `wss:` on an `https:`
/// one, same host and port (Chromium since 71, Firefox, Safari since 16;
/// `ecosystem/checks/30-graphiql.mjs` runs a subscription in Debian's
/// Chromium under this policy). Naming the origin instead would mean
/// trusting the `Host` header and guessing the scheme behind a proxy.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    font-src data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// A file the page loads.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const REACT: usize = 0;
const REACT_DOM: usize = 1;
const GRAPHIQL_JS: usize = 2;
const GRAPHIQL_CSS: usize = 3;
const GRAPHQL_WS: usize = 4;
const INIT: usize = 5;

const ASSETS: [Asset; 6] = [
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "graphql-ws.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/graphql-ws.min.js"),
    },
    Asset {
        name: "init.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/init.js"),
    },
];

/// Each asset's fingerprint, the directory of its URL:
/// `/graphiql/<fingerprint>/<name>`. Derived from the content, so a
/// re-vendored or edited file gets a new URL and a browser never keeps a
/// stale copy of an "immutable" one; no version number to keep in step.
/// Computed once per process (about 4 MB to hash).
static FINGERPRINTS: LazyLock<[String; 6]> = LazyLock::new(|| {
    ASSETS
        .each_ref()
        .map(|a| format!("{:016x}", fnv1a(a.bytes)))
});

/// FNV-1a, 64 bits: a stable content fingerprint without another dependency
/// (a cache key, not a defence against forgery).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn asset_path(index: usize) -> String {
    format!("/graphiql/{}/{}", FINGERPRINTS[index], ASSETS[index].name)
}

/// The route the assets are served on.
pub(super) const ASSET_ROUTE: &str = "/graphiql/{fingerprint}/{file}";

/// `GET /graphiql/<fingerprint>/<name>`: an embedded file, cacheable for a
/// year. A fingerprint that is not the current one is 404: serving today's
/// bytes under yesterday's immutable URL would let caches mix versions.
pub(super) async fn asset(Path((fingerprint, file)): Path<(String, String)>) -> Response {
    let found = ASSETS
        .iter()
        .zip(FINGERPRINTS.iter())
        .find(|(a, f)| a.name == file && **f == fingerprint);
    let Some((asset, _)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from(Bytes::from_static(asset.bytes)),
    )
        .into_response()
}

/// The GraphiQL page for `app`.
pub(super) fn page(app: &App) -> Response {
    let defaults = script_json(&defaults(app.config.dev, app.graphiql_demo.get()));
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>c360 · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<style>body {{ margin: 0; height: 100vh; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script type="application/json" id="c360-graphiql-defaults">{defaults}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{graphql_ws}"></script>
<script src="{init}"></script>
</body>
</html>
"#,
        css = asset_path(GRAPHIQL_CSS),
        react = asset_path(REACT),
        react_dom = asset_path(REACT_DOM),
        graphiql = asset_path(GRAPHIQL_JS),
        graphql_ws = asset_path(GRAPHQL_WS),
        init = asset_path(INIT),
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            // The page may carry a token: no cache keeps it.
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// What the page opens with. The demo token only in dev mode, whatever was
/// stored: outside `--dev` a page handing out a staff token to anyone who
/// can load it would be a hole.
fn defaults(dev: bool, demo: Option<&DemoSession>) -> Json {
    let Some(demo) = demo.filter(|_| dev) else {
        return json!({ "query": BLANK_QUERY });
    };
    // GraphiQL's editors take text: the JSON as a person would type it.
    let pretty = |value: Json| serde_json::to_string_pretty(&value).unwrap_or_default();
    json!({
        "query": PROFILE_QUERY,
        "variables": pretty(json!({ "id": demo.customer.as_deref().unwrap_or("") })),
        "headers": pretty(json!({
            "Authorization": format!("Bearer {}", demo.token.expose_secret()),
        })),
    })
}

/// `value` as JSON that cannot end or alter the `<script>` element it sits
/// in: `<`, `>` and `&` escaped (no `</script>`, no `<!--`), and U+2028/9,
/// which older parsers take for line ends. The escapes only occur inside
/// JSON strings, where `\uXXXX` means the same character.
fn script_json(value: &Json) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> DemoSession {
        DemoSession {
            token: SecretString::from("tok.en.sig"),
            customer: Some("gid://c360/Customer/747".into()),
        }
    }

    #[test]
    fn embedded_json_cannot_leave_its_script_element() {
        let value = json!({ "q": "</script><!-- a & b > c \u{2028}\u{2029}" });
        let embedded = script_json(&value);
        for c in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!embedded.contains(c), "{c:?} in {embedded}");
        }
        let back: Json = serde_json::from_str(&embedded).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn the_demo_token_is_embedded_only_in_dev_mode() {
        let session = demo();
        let production = defaults(false, Some(&session));
        assert_eq!(production, json!({ "query": BLANK_QUERY }));
        assert!(!production.to_string().contains("tok.en.sig"));
        assert_eq!(defaults(true, None), json!({ "query": BLANK_QUERY }));

        let dev = defaults(true, Some(&session));
        assert_eq!(dev["query"], PROFILE_QUERY);
        let headers: Json =
            serde_json::from_str(dev["headers"].as_str().expect("text")).expect("headers are JSON");
        assert_eq!(headers, json!({ "Authorization": "Bearer tok.en.sig" }));
        let variables: Json = serde_json::from_str(dev["variables"].as_str().expect("text"))
            .expect("variables are JSON");
        assert_eq!(variables, json!({ "id": "gid://c360/Customer/747" }));
    }

    #[test]
    fn asset_urls_follow_their_content() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(b"graphiql 3.8.3"), fnv1a(b"graphiql 3.8.4"));
        for (index, asset) in ASSETS.iter().enumerate() {
            let expected = format!("/graphiql/{:016x}/{}", fnv1a(asset.bytes), asset.name);
            assert_eq!(asset_path(index), expected);
        }
    }
}
