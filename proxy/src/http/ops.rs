//! What a load balancer and an operator ask of a proxy: `/healthz` (the process
//! answers), `/readyz` (it can serve: its database answers), outside `/api/v1` and
//! without a session, saying nothing but that.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// 200 when the database answers now; 503 with the reason otherwise, so the load
/// balancer sends people to a proxy that can sign them in.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let ping = tokio::task::spawn_blocking(move || store.ping()).await;
    match ping {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(err)) => {
            tracing::warn!(%err, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the database does not answer\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response(),
    }
}

/// `/metrics` on its own listener (plain HTTP, no session: `metrics_listen` is an
/// operator's address, never the public one).
pub async fn serve_metrics(listener: tokio::net::TcpListener, live: std::sync::Arc<crate::sessions::Live>) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let live = live.clone();
            async move {
                let sessions = live.snapshot();
                let count = |kind| sessions.iter().filter(|s| s.kind == kind).count() as i64;
                let active =
                    [("ssh", count(crate::sessions::Kind::Ssh)), ("desktop", count(crate::sessions::Kind::Desktop))];
                let body = crate::metrics::render(&active);
                (
                    [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    body,
                )
            }
        }),
    );
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(%err, "the metrics listener stopped");
    }
}
