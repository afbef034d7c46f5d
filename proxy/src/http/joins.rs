//! Joined and moderated sessions: `GET /api/v1/live` (the live sessions the person may
//! see), `POST /api/v1/live/{id}/invite` (the owner names who may join),
//! `POST /api/v1/live/{id}/end` (a moderator ends it), and the WebSocket
//! `GET /api/v1/live/{id}/join?mode=observer|peer`, which carries the session's terminal
//! output to the joiner (the current screen first) and, for a peer, what they type back.
//!
//! Who may join how is [`crate::access::join::decide`], asked again by the half-second
//! sweep for as long as the joiner is in ([`crate::sessions::Kind::Join`]). The socket's
//! binary frames are terminal bytes; its text frames are the session's [`api::LiveShared`]
//! as JSON whenever who is in it, or its state, changes.
//!
//! A session is joined on the proxy that runs it: behind a load balancer, a join that
//! reaches another proxy is refused with a sentence saying so (the list shows this
//! proxy's sessions only).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use gatehouse_proto::api;
use serde::Deserialize;

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use super::ws::{self, close, close_frame, refuse};
use crate::access::Refusal;
use crate::access::join::{self, JoinGrant};
use crate::access::rbac::JoinMode;
use crate::audit::Kind;
use crate::gate::Gatehouse;
use crate::sessions::shared::SharedSession;
use crate::sessions::{JoinedAs, LiveSession, Registration};

/// Keys and pastes; nothing a person types needs more in one frame.
const MAX_FRAME: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/live", get(list))
        .route("/live/{id}/invite", post(invite))
        .route("/live/{id}/end", post(end))
        .route("/live/{id}/join", get(join_socket))
}

fn not_here(id: &str) -> Refusal {
    Refusal::Missing(format!(
        "There is no live session {id} on this proxy: it ended, or it runs on another Gatehouse proxy of this cluster (a session is joined on the proxy that runs it)."
    ))
}

/// How `user` (with `roles`) may join `session` now, each mode decided.
fn decisions(
    state: &Gatehouse,
    user: &str,
    roles: &[String],
    session: &SharedSession,
) -> Vec<(JoinMode, Result<JoinGrant, Refusal>)> {
    let nodes = state.inventory.nodes().unwrap_or_default();
    let locks = match state.store.active_locks(crate::auth::now()) {
        Ok(locks) => locks,
        Err(err) => {
            tracing::error!(%err, "cannot read locks");
            let refusal = Refusal::Unavailable(crate::gate::STATE_UNREADABLE.into());
            return vec![(JoinMode::Observer, Err(refusal.clone())), (JoinMode::Peer, Err(refusal))];
        }
    };
    let invites = session.invites();
    [JoinMode::Observer, JoinMode::Peer]
        .into_iter()
        .map(|mode| {
            let Some(node) = nodes.iter().find(|n| n.name.as_str() == session.opened.node) else {
                return (mode, Err(Refusal::Missing(format!("{} was removed from Gatehouse.", session.opened.node))));
            };
            let asked = join::Session {
                owner: &session.opened.owner,
                node,
                invites: &invites,
                moderators: &session.opened.moderators,
            };
            (mode, join::decide(&state.roles, user, roles, &locks, asked, mode))
        })
        .collect()
}

/// The session as `user` sees it, or `None` if it is none of theirs to see.
fn view(state: &Gatehouse, user: &str, roles: &[String], session: &SharedSession) -> Option<api::LiveShared> {
    let mine = session.opened.owner == user;
    let decided = if mine { Vec::new() } else { decisions(state, user, roles, session) };
    let may_join: Vec<String> =
        decided.iter().filter(|(_, d)| d.is_ok()).map(|(mode, _)| mode.as_str().to_string()).collect();
    if !mine && may_join.is_empty() {
        return None;
    }
    let moderator = decided.iter().any(|(_, d)| d.as_ref().is_ok_and(|g| g.moderator));
    let invites = session.invites();
    Some(api::LiveShared {
        id: session.id.clone(),
        owner: session.opened.owner.clone(),
        node: session.opened.node.clone(),
        login: session.opened.login.clone(),
        started_at: session.opened.started_at,
        state: session.state().as_str().to_string(),
        moderators: session.opened.moderators.clone(),
        participants: session
            .members()
            .into_iter()
            .map(|m| api::LiveParticipant { user: m.user, mode: m.mode.as_str().to_string(), moderator: m.moderator })
            .collect(),
        invited_users: invites.users.into_iter().collect(),
        invited_roles: invites.roles.into_iter().collect(),
        mine,
        tab: if mine { session.opened.tab.clone() } else { None },
        may_join,
        moderator,
    })
}

/// `GET /api/v1/live`: this proxy's live sessions the person owns, was invited to,
/// moderates, or (as an auditor) may watch.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Json<api::LiveSessions> {
    let user = &signed_in.session.user;
    let sessions =
        state.shared.all().iter().filter_map(|session| view(&state, &user.name, &user.roles, session)).collect();
    Json(api::LiveSessions { sessions })
}

/// `POST /api/v1/live/{id}/invite`: the owner adds people or roles to the invites.
pub async fn invite(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<api::LiveInvite>,
) -> Result<Json<api::LiveShared>, ApiError> {
    let user = &signed_in.session.user;
    let session = state.shared.get(&id).ok_or_else(|| not_here(&id))?;
    if session.opened.owner != user.name {
        return Err(Refusal::Denied("Only the session's owner invites people to it.".into()).into());
    }
    let clean = |names: &[String]| -> Vec<String> {
        names.iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty() && n.len() <= 64).collect()
    };
    let (users, roles) = (clean(&request.users), clean(&request.roles));
    if users.is_empty() && roles.is_empty() || users.len() + roles.len() > 50 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invite_empty",
            "Name one to 50 people or roles to invite.",
        ));
    }
    session.invite(&users, &roles);
    let detail =
        format!("session {id} on {}: users [{}], roles [{}]", session.opened.node, users.join(", "), roles.join(", "));
    state.audit.record(Kind::SessionInvited, Some(&user.name), Some(peer.ip()), &detail);
    view(&state, &user.name, &user.roles, &session)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "gone", "The session ended."))
}

/// `POST /api/v1/live/{id}/end`: a moderator ends the session (its owner's socket closes
/// with the sentence, and so does everyone else's).
pub async fn end(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    signed_in: SignedIn,
) -> Result<StatusCode, ApiError> {
    let user = &signed_in.session.user;
    let session = state.shared.get(&id).ok_or_else(|| not_here(&id))?;
    let moderates =
        decisions(&state, &user.name, &user.roles, &session).iter().any(|(_, d)| d.as_ref().is_ok_and(|g| g.moderator));
    if !moderates {
        state.audit.record(
            Kind::SessionJoinDenied,
            Some(&user.name),
            Some(peer.ip()),
            &format!("session {id}: asked to end it without moderating it"),
        );
        return Err(Refusal::Denied("Only a moderator of this session may end it.".into()).into());
    }
    let reason = session.end_by(&user.name);
    let detail = format!("session {id} of {} on {}: {reason}", session.opened.owner, session.opened.node);
    state.audit.record(Kind::SessionModeratorEnded, Some(&user.name), Some(peer.ip()), &detail);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct JoinQuery {
    mode: Option<String>,
}

/// `GET /api/v1/live/{id}/join?mode=…`: the joiner's socket.
#[allow(clippy::too_many_arguments)]
pub async fn join_socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(query): Query<JoinQuery>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade =
        match ws::upgrade(&state, peer, &headers, upgrade, "a joined session", Kind::SessionJoinDenied, MAX_FRAME) {
            Ok(upgrade) => upgrade,
            Err(err) => return err.into_response(),
        };
    let admitted = ws::admission(&signed_in, |web| {
        let user = &web.user;
        let denied = |refusal: Refusal| {
            let detail = format!("session {id}: {}", refusal.sentence());
            state.audit.record(Kind::SessionJoinDenied, Some(&user.name), Some(peer.ip()), &detail);
            refusal
        };
        let mode =
            query.mode.as_deref().and_then(JoinMode::parse).ok_or_else(|| {
                Refusal::Denied("Join as an observer or a peer (?mode=observer or ?mode=peer).".into())
            })?;
        let session = state.shared.get(&id).ok_or_else(|| denied(not_here(&id)))?;
        let grant = decisions(&state, &user.name, &user.roles, &session)
            .into_iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, d)| d)
            .unwrap_or_else(|| Err(Refusal::Denied(String::new())))
            .map_err(denied)?;
        let live = LiveSession {
            kind: crate::sessions::Kind::Join,
            user: user.name.clone(),
            web_session: web.token_hash.clone(),
            web_session_expires: web.expires_at,
            target: session.opened.node.clone(),
            logins: Vec::new(),
            ssh: None,
            recorded: false,
            device: None,
            join: Some(JoinedAs {
                owner: session.opened.owner.clone(),
                mode,
                invites: session.invites(),
                moderators: session.opened.moderators.clone(),
            }),
        };
        let registration = state
            .live
            .register(live, state.limits.ssh_sessions_per_user)
            .map_err(|why| denied(Refusal::TooMany(why)))?;
        Ok((session, grant, registration, user.name.clone(), user.roles.clone()))
    });
    upgrade.on_upgrade(move |socket| async move {
        match admitted {
            Err((code, reason)) => refuse(socket, code, reason).await,
            Ok((session, grant, registration, user, roles)) => {
                let gatehouse = state.gatehouse().clone();
                carry(&gatehouse, peer, socket, &session, grant, &registration, &user, &roles).await;
            }
        }
    })
}

/// The joiner's socket until they leave, the session ends, or the sweep ends them.
#[allow(clippy::too_many_arguments)]
async fn carry(
    state: &Arc<Gatehouse>,
    peer: SocketAddr,
    socket: WebSocket,
    session: &Arc<SharedSession>,
    grant: JoinGrant,
    registration: &Registration,
    user: &str,
    roles: &[String],
) {
    let mut joined = session.join(user, grant.mode, grant.moderator);
    let what = format!(
        "session {} of {} on {} as {}{}",
        session.id,
        session.opened.owner,
        session.opened.node,
        grant.mode.as_str(),
        if grant.moderator { ", moderator" } else { "" }
    );
    state.audit.record(Kind::SessionJoined, Some(user), Some(peer.ip()), &what);
    if let Some(rec) = session.recorder() {
        rec.participant(user, grant.mode, true, grant.moderator).await;
    }
    let (mut tx, mut rx) = socket.split();
    let status = |state: &Gatehouse| {
        view(state, user, roles, session)
            .and_then(|v| serde_json::to_string(&v).ok())
            .map(|json| Message::Text(json.into()))
    };
    let mut dropped_input = 0u64;
    // Ended between the lookup and the join: the change was made before we could see it.
    let mut ending: Option<(u16, String)> = joined.closed.borrow().clone().map(|reason| (close::ENDED, reason));
    if let Some(text) = status(state) {
        let _ = tx.send(text).await;
    }
    let _ = tx.send(Message::Binary(std::mem::take(&mut joined.screen).into())).await;
    while ending.is_none() {
        tokio::select! {
            biased;
            reason = registration.wait_ended() => {
                ending = Some((close::ENDED, reason));
                break;
            }
            closed = joined.closed.changed() => {
                let reason = joined.closed.borrow().clone();
                if closed.is_err() || reason.is_some() {
                    ending = Some((close::ENDED, reason.unwrap_or_else(|| "The session ended.".into())));
                    break;
                }
            }
            _ = joined.changed.changed() => {
                if let Some(text) = status(state)
                    && tx.send(text).await.is_err()
                {
                    break;
                }
            }
            chunk = joined.output.recv() => {
                let Some(chunk) = chunk else { break };
                if tx.send(Message::Binary(chunk)).await.is_err() {
                    break;
                }
                if let Some(screen) = session.catch_up(joined.id, &mut joined.output)
                    && tx.send(Message::Binary(screen.into())).await.is_err()
                {
                    break;
                }
            }
            message = rx.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if let Err(why) = session.peer_input(joined.id, data) {
                        dropped_input += 1;
                        if dropped_input == 1 {
                            tracing::info!(%user, session = %session.id, why, "dropped a participant's input");
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    if let Some((code, reason)) = ending {
        let _ = tokio::time::timeout(ws::CLOSE_LIMIT, tx.send(close_frame(code, reason))).await;
    }
    session.leave(joined.id, crate::auth::now_ms());
    if let Some(rec) = session.recorder() {
        rec.participant(user, grant.mode, false, grant.moderator).await;
    }
    let dropped = if dropped_input > 0 { format!("; {dropped_input} inputs dropped") } else { String::new() };
    state.audit.record(Kind::SessionLeft, Some(user), Some(peer.ip()), &format!("{what}{dropped}"));
}
