//! The HTTPS face of the proxy: the JSON API under `/api/v1`, the web app's files for
//! everything else, and the security headers on every response; requests for a web
//! app's own origin go to [`apps`] before any of that.

pub mod api;
pub mod apps;
pub mod assets;
pub mod desktops;
pub mod devices;
pub mod error;
pub mod forwarded;
pub mod joins;
pub mod ops;
pub mod passkeys;
pub mod recordings;
pub mod request;
pub mod requests;
pub mod server;
pub mod ssh;
pub mod sso;
pub mod state;
pub mod ws;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use state::AppState;

/// The whole web face: each handler module's routes under `/api/v1`, behind the body
/// limit and the CSRF guard; the web app's files for every other path; the security
/// headers on every answer.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(api::routes())
        .merge(passkeys::routes())
        .merge(ssh::routes())
        .merge(desktops::routes())
        .merge(devices::routes())
        .merge(recordings::routes())
        .merge(sso::routes())
        .merge(requests::routes())
        .merge(apps::routes())
        .merge(joins::routes())
        .route_layer(middleware::from_fn(timed))
        .fallback(request::unknown_endpoint)
        .method_not_allowed_fallback(request::method_not_allowed)
        .layer(DefaultBodyLimit::max(request::MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), request::csrf_guard))
        .layer(middleware::map_response(request::no_store));
    Router::new()
        .nest("/api/v1", api)
        .merge(ops::routes())
        .merge(apps::public_routes())
        .fallback(app_files)
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        // Outermost: a request for an app's origin never reaches Gatehouse's own routes
        // (nor gets their headers).
        .layer(middleware::from_fn_with_state(state.clone(), apps::by_host))
        .with_state(state)
}

/// Times each request until its response starts, by route (the route's pattern, never
/// the path itself: names and ids would make a series each).
async fn timed(request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<axum::extract::MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        None => "unknown".to_string(),
    };
    let method = request.method().as_str().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::request(&route, &method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// The web app's files, for every path outside the API.
async fn app_files(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "Only GET and HEAD are served here.\n").into_response();
    }
    let path = if uri.path() == "/" { "/index.html" } else { uri.path() };
    state.assets().respond(path, &method, &headers)
}

/// Headers that hold on every response: the page may only run our own code, may not be
/// framed, and the browser must stay on HTTPS.
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(state.assets().content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers
        .insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    response
}
