//! Web apps over HTTPS. A request whose `Host` is `NAME.<public host>` belongs to the
//! app `NAME` and never reaches Gatehouse's own pages or API ([`by_host`], the outermost
//! layer): the launch's last step (`/.gatehouse/launch`), then, for a request with a
//! live app session, the forwarding to the app: HTTP/1.1 with both bodies streamed, and
//! WebSockets, each request decided again, carrying a fresh identity assertion, and
//! registered as a live session so that the sweep ends it with the identity. On
//! Gatehouse's origin: `POST /api/v1/apps/{name}/launch` (the launch's middle step) and
//! `GET /.well-known/jwks.json` (the keys apps verify assertions with).
//!
//! Refusals on an app's origin are small pages of our own with the sentence: no role, a
//! lock, a launch link that was not this browser's, the app down or too slow.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use gatehouse_proto::api;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use crate::apps::{self, LAUNCH_PATH, SESSION_COOKIE, STATE_COOKIE, headers};
use crate::audit::Kind;
use crate::auth;
use crate::gate::apps::{AdmittedApp, AppDenied};
use crate::sessions::{self, LiveSession};

/// Requests (and WebSockets) one person may have in flight to apps at once.
const REQUESTS_PER_USER: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections to apps, pooled. Plain HTTP only (`AppUri` allows nothing else).
static CLIENT: LazyLock<Client<HttpConnector, Body>> = LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
});

/// Routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/apps/{name}/launch", post(launch))
}

/// Routes at the root of Gatehouse's origin.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The keys an app verifies assertions with: those signing now and those retired less
/// than a token's lifetime ago.
async fn jwks(State(state): State<AppState>) -> Response {
    match state.apps.jwks(auth::now()) {
        Ok(set) => ([(header::CACHE_CONTROL, "max-age=60")], Json(set)).into_response(),
        Err(err) => {
            tracing::error!(%err, "cannot read the apps' signing keys");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The launch's middle step: the decision, then a one-time token bound to the state the
/// app's origin gave this browser.
async fn launch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<api::AppLaunch>,
) -> Result<Json<api::AppLaunched>, ApiError> {
    let now = auth::now();
    let user = signed_in.session.user.name.clone();
    if body.state.is_empty() || body.state.len() > 128 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_state",
            "This launch did not come from the app's address. Open the app from the resources page.",
        ));
    }
    let admitted = match state.admit_app(&name, &signed_in.session.token_hash, now) {
        Ok(admitted) => admitted,
        Err(AppDenied::Refused(refusal)) => {
            state.audit.record(
                Kind::AppRefused,
                Some(&user),
                Some(peer.ip()),
                &format!("{name}: {}", refusal.sentence()),
            );
            return Err(refusal.into());
        }
        Err(AppDenied::NoSession) => return Err(ApiError::not_signed_in()),
        Err(AppDenied::Unavailable) => return Err(ApiError::internal()),
    };
    let launched = state
        .apps
        .launch(&admitted.app, &user, &signed_in.session.token_hash, &body.state, &body.path, now)
        .map_err(|err| {
            tracing::error!(%err, "cannot keep an app launch");
            ApiError::internal()
        })?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_app_origins",
                "Gatehouse's public URL is an address, so apps (each on a name under it) cannot be served. Tell an admin.",
            )
        })?;
    Ok(Json(api::AppLaunched { url: launched.url }))
}

/// Sends a request for an app's origin to the app's side of the proxy; every other
/// request goes on to Gatehouse's own routes.
pub async fn by_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let app = state.apps.origins.as_ref().and_then(|origins| origins.app_for_host(host));
    match app {
        Some(name) => on_app_origin(state, name.to_string(), request).await,
        None => next.run(request).await,
    }
}

fn client_ip(request: &Request) -> IpAddr {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip())
}

/// The `Cookie` header as text (a byte that is not ASCII, in someone else's cookie, must
/// not hide ours).
fn cookie_header(request: &Request) -> String {
    request
        .headers()
        .get(header::COOKIE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

async fn on_app_origin(state: AppState, name: String, request: Request) -> Response {
    let now = auth::now();
    let ip = client_ip(&request);
    if request.uri().path() == LAUNCH_PATH {
        return finish_launch(&state, &name, &request, ip, now);
    }
    let public_origin = state.apps.origins.as_ref().map(|o| o.app_origin(&name)).unwrap_or_default();
    if let Some(from) = headers::cross_site(request.method(), request.headers(), &public_origin) {
        state.audit.record(
            Kind::AppRefused,
            None,
            Some(ip),
            &format!("{name}: {} {} from another site ({from})", request.method(), request.uri().path()),
        );
        return page(
            &state,
            StatusCode::FORBIDDEN,
            "Not from another site",
            &format!(
                "This request to the app {name} came from another site's page ({from}), so Gatehouse did not pass it on. Open the app itself and try again there."
            ),
        );
    }
    let cookies = cookie_header(&request);
    let decided = match apps::cookie_value(&cookies, SESSION_COOKIE) {
        Some(cookie) => state.admit_app_request(&name, cookie, now),
        None => Err(AppDenied::NoSession),
    };
    match decided {
        Ok(admitted) => forward(state, admitted, request, ip, now).await,
        Err(AppDenied::NoSession) => start_launch(&state, &name, &request),
        Err(AppDenied::Refused(refusal)) => {
            state.audit.record(Kind::AppRefused, None, Some(ip), &format!("{name}: {}", refusal.sentence()));
            let status = ApiError::from(refusal.clone()).status;
            let title = match refusal {
                crate::access::Refusal::Locked(_) => "Locked",
                crate::access::Refusal::Missing(_) => "No such app",
                _ => "Not allowed",
            };
            page(&state, status, title, refusal.sentence())
        }
        Err(AppDenied::Unavailable) => page(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "Gatehouse cannot reach its database right now, so it will not let this request through. Try again shortly; if it persists, tell an admin.",
        ),
    }
}

/// The launch's first step: a browser without an app session that asks for a page gets
/// a state cookie and goes to Gatehouse to launch; anything else (an API call, a
/// WebSocket, a form post) gets a sentence.
fn start_launch(state: &AppState, name: &str, request: &Request) -> Response {
    let navigating = matches!(*request.method(), Method::GET | Method::HEAD)
        && !headers::is_websocket_upgrade(request.headers())
        && request.headers().get("sec-fetch-mode").and_then(|v| v.to_str().ok()).is_none_or(|mode| mode == "navigate");
    if !navigating {
        return page(
            state,
            StatusCode::UNAUTHORIZED,
            "Signed out of this app",
            "Your session with this app has ended (you signed out of Gatehouse, or it expired). Open the app again from Gatehouse.",
        );
    }
    let launch_state = auth::token::random_token();
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = format!(
        "{}/apps/{name}/launch#state={launch_state}&path={}",
        state.public_url.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    );
    let mut response = redirect(&target);
    set_cookie(&mut response, &apps::cookie(STATE_COOKIE, &launch_state, 300));
    response
}

/// The launch's last step: the token, taken once, must be for this app and bound to
/// this browser's state cookie; then the app session's cookie, and on to the page.
fn finish_launch(state: &AppState, name: &str, request: &Request, ip: IpAddr, now: u64) -> Response {
    let token = request
        .uri()
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let cookies = cookie_header(request);
    let launch_state = apps::cookie_value(&cookies, STATE_COOKIE);
    let refused = |detail: &str| {
        state.audit.record(Kind::AppRefused, None, Some(ip), &format!("{name}: launch refused: {detail}"));
        page(
            state,
            StatusCode::FORBIDDEN,
            "This launch link cannot be used",
            "This launch link was used already, has expired, or was opened in another browser than the one that asked for it. Open the app again from Gatehouse.",
        )
    };
    let launch = match state.apps.take_launch(name, &token, launch_state, now) {
        Ok(Some(launch)) => launch,
        Ok(None) => return refused("unknown, used, expired or another browser's token"),
        Err(err) => {
            tracing::error!(%err, "cannot read app launches");
            return refused("database error");
        }
    };
    let admitted = match state.admit_app(name, &launch.web_session, now) {
        Ok(admitted) => admitted,
        Err(AppDenied::Refused(refusal)) => {
            state.audit.record(
                Kind::AppRefused,
                Some(&launch.user),
                Some(ip),
                &format!("{name}: {}", refusal.sentence()),
            );
            return page(state, StatusCode::FORBIDDEN, "Not allowed", refusal.sentence());
        }
        Err(_) => return refused("the web session ended before the launch finished"),
    };
    let cookie = match state.apps.open_session(&launch, admitted.web.expires_at, now) {
        Ok(cookie) => cookie,
        Err(err) => {
            tracing::error!(%err, "cannot keep an app session");
            return refused("database error");
        }
    };
    state.audit.record(Kind::AppSessionStarted, Some(&launch.user), Some(ip), name);
    let mut response = redirect(&launch.path);
    set_cookie(&mut response, &apps::cookie(SESSION_COOKIE, &cookie, admitted.web.expires_at.saturating_sub(now)));
    set_cookie(&mut response, &apps::cookie(STATE_COOKIE, "", 0));
    response
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A page of Gatehouse's on an app's origin: a heading, the sentence, a link home. No
/// script runs on it.
fn page(state: &AppState, status: StatusCode, title: &str, sentence: &str) -> Response {
    let home = state.public_url.trim_end_matches('/');
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{title} · Gatehouse</title><style>body{{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;\
         padding:0 1rem;color:#1d2230}}h1{{font-size:1.4rem}}p.sentence{{background:#fdecea;border-left:4px solid #c62828;\
         padding:.75rem 1rem}}</style></head><body><h1>{title}</h1><p class=sentence role=alert>{sentence}</p>\
         <p><a href=\"{home}/\">Back to Gatehouse</a></p></body></html>",
        title = escape(title),
        sentence = escape(sentence),
        home = escape(home),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Forwards one admitted request to its app and streams the answer back.
async fn forward(state: AppState, admitted: AdmittedApp, mut request: Request, ip: IpAddr, now: u64) -> Response {
    let AdmittedApp { app, user, web } = admitted;
    let name = app.name.to_string();
    let Some(origins) = state.apps.origins.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let assertion = match state.apps.assertion(&app, &user.name, &user.roles, state.traits(&user), now) {
        Ok(assertion) => assertion,
        Err(err) => {
            tracing::error!(%err, "cannot sign an identity assertion");
            return page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "Gatehouse cannot sign your identity for this app right now. Try again shortly; if it persists, tell an admin.",
            );
        }
    };
    let live = LiveSession {
        kind: sessions::Kind::App,
        user: user.name.clone(),
        web_session: web.token_hash.clone(),
        web_session_expires: web.expires_at,
        target: name.clone(),
        logins: Vec::new(),
        ssh: None,
        recorded: false,
        device: None,
        join: None,
    };
    let registration = match state.live.register(live, REQUESTS_PER_USER) {
        Ok(registration) => registration,
        Err(why) => return page(&state, StatusCode::TOO_MANY_REQUESTS, "Too many requests", &why),
    };
    let public_authority = origins.app_authority(&name);
    let public_origin = origins.app_origin(&name);
    let outgoing = headers::Outgoing {
        host: app.host_header(),
        client_ip: ip,
        public_authority: &public_authority,
        assertion: &assertion,
    };
    let websocket = headers::is_websocket_upgrade(request.headers());
    let out_headers = headers::to_app(request.headers(), &outgoing);
    let path = request.uri().path().to_string();
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    let method = request.method().clone();
    let browser_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
    // The answer's deadline runs from when the request's body has been sent: an upload
    // may take as long as it takes.
    let (sent, body_sent) = tokio::sync::oneshot::channel::<()>();
    let has_body = !websocket
        && (request.headers().contains_key(header::TRANSFER_ENCODING)
            || request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_some_and(|len| len > 0));
    let body = if has_body {
        let mut sent = Some(sent);
        let frames = http_body_util::BodyStream::new(request.into_body())
            .filter_map(|frame| async move {
                match frame {
                    Ok(frame) => frame.into_data().ok().map(Ok),
                    Err(err) => Some(Err(err)),
                }
            })
            .chain(futures_util::stream::poll_fn(move |_| {
                if let Some(sent) = sent.take() {
                    let _ = sent.send(());
                }
                std::task::Poll::Ready(None)
            }));
        Body::from_stream(frames)
    } else {
        let _ = sent.send(());
        Body::empty()
    };
    let mut out = axum::http::Request::new(body);
    *out.method_mut() = method.clone();
    *out.version_mut() = Version::HTTP_11;
    *out.headers_mut() = out_headers;
    match format!("{}{path_and_query}", app.uri.origin()).parse() {
        Ok(uri) => *out.uri_mut() = uri,
        Err(_) => {
            return page(&state, StatusCode::BAD_REQUEST, "Bad address", "This address cannot be sent to the app.");
        }
    }

    let timeout = state.apps.settings.response_timeout;
    let deadline = async {
        // Dropped unsent (the body failed): the deadline runs from now.
        let _ = body_sent.await;
        tokio::time::sleep(timeout).await;
    };
    let answered = tokio::select! {
        answer = CLIENT.request(out) => Some(answer),
        () = deadline => None,
        why = registration.wait_ended() => {
            return page(&state, StatusCode::FORBIDDEN, "Ended", &why);
        }
    };
    let answer = match answered {
        Some(Ok(answer)) => answer,
        Some(Err(err)) => {
            tracing::info!(app = %name, %err, "an app did not answer");
            let why = if err.is_connect() { "refused the connection or cannot be reached" } else { "broke off" };
            let sentence = format!(
                "The app {name} is not answering at its address (it {why}). Try again in a moment; if it stays down, tell an admin."
            );
            state.audit.record(Kind::AppRefused, Some(&user.name), Some(ip), &format!("{name}: app down: {err}"));
            return page(&state, StatusCode::BAD_GATEWAY, "The app is not answering", &sentence);
        }
        None => {
            let sentence = format!(
                "The app {name} did not answer within {} s. Try again; if it keeps happening, tell an admin.",
                timeout.as_secs()
            );
            state.audit.record(Kind::AppRefused, Some(&user.name), Some(ip), &format!("{name}: app timed out"));
            return page(&state, StatusCode::GATEWAY_TIMEOUT, "The app is too slow", &sentence);
        }
    };
    if state.apps.settings.audit_requests {
        let detail = format!("{name}: {method} {path} {}", answer.status().as_u16());
        state.audit.record(Kind::AppRequest, Some(&user.name), Some(ip), &detail);
    }
    let upgraded = answer.status() == StatusCode::SWITCHING_PROTOCOLS;
    let how = headers::Incoming {
        internal_origin: app.uri.origin(),
        public_origin: &public_origin,
        rewrite_redirects: app.rewrite_redirects,
        upgraded,
    };
    if let (true, Some(browser_upgrade)) = (upgraded, browser_upgrade) {
        let mut answer = answer;
        let app_upgrade = hyper::upgrade::on(&mut answer);
        let (mut parts, _) = answer.into_parts();
        headers::to_browser(&mut parts.headers, &how);
        tokio::spawn(async move {
            let (Ok(browser), Ok(app_side)) = tokio::join!(browser_upgrade, app_upgrade) else { return };
            let (mut browser, mut app_side) = (TokioIo::new(browser), TokioIo::new(app_side));
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut browser, &mut app_side) => {}
                // Both halves drop here: the browser's WebSocket closes.
                _ = registration.wait_ended() => {}
            }
        });
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = answer.into_parts();
    headers::to_browser(&mut parts.headers, &how);
    // The answer streams through; if the identity goes meanwhile it stops with an
    // error, so the browser sees a broken answer rather than a short one.
    let ended = sessions::wait(registration.ended.clone());
    let frames = http_body_util::BodyStream::new(body)
        .map(|frame| frame.map_err(std::io::Error::other))
        .take_until(ended)
        .filter_map(|frame| async move {
            match frame {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(err) => Some(Err(err)),
            }
        })
        .chain(
            futures_util::stream::once(
                async move { registration.why_ended().map(|why| Err(std::io::Error::other(why))) },
            )
            .filter_map(std::future::ready),
        );
    Response::from_parts(parts, Body::from_stream(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_on_app_pages_are_text_not_markup() {
        assert_eq!(escape("<script>\"x\"&"), "&lt;script&gt;&quot;x&quot;&amp;");
    }
}
