//! `/api/v1/recordings`: list, metadata, the files (with HTTP Range, so a player starts
//! before a long recording has arrived), search, and asciicast export.
//!
//! Who may see what comes from the roles' `recordings` option (`none`, `own`, `all`);
//! a recording someone may not see is answered as if it did not exist. Every read of a
//! recording's bytes is audited (any part, any Range), one record per viewing: the
//! player's many Range reads of one recording by one viewer within half an hour of
//! each other are one viewing ([`crate::audit::Viewings`]). Searches and exports are
//! audited each time. A desktop recording's video is made on the proxy
//! ([`crate::recordings::video`]): started by a POST, followed by GETs of its progress,
//! then downloaded.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_proto::api::{RecordingInfo, RecordingKind, RecordingList, SearchHits};
use serde::Deserialize;

use super::error::ApiError;
use super::request::SignedIn;
use super::state::AppState;
use crate::access::rbac::{self, RecordingAccess};
use crate::audit::Kind;
use crate::recordings;
use crate::recordings::archive::Part;
use crate::recordings::row::{RecordingFilter, RecordingRow};
use crate::recordings::video;

const PER_PAGE_MAX: u32 = 200;
/// A text search reads recordings; it looks at this many of the newest that match the
/// other filters.
const TEXT_SEARCH_SCAN: u32 = 200;
/// The most one Range answer carries; a client asking for more gets this much, and
/// Content-Range says so.
const MAX_RANGE: u64 = 8 << 20;

fn access(state: &AppState, signed_in: &SignedIn) -> Result<RecordingAccess, ApiError> {
    match rbac::recording_access(&state.roles, &signed_in.session.user.roles) {
        RecordingAccess::None => {
            state.audit.record(
                Kind::RecordingDenied,
                Some(&signed_in.session.user.name),
                None,
                "no role allows recordings",
            );
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "recordings_denied",
                "Your roles do not let you view recordings. Ask an admin for a role with `recordings = \"own\"` or `\"all\"`.",
            ))
        }
        other => Ok(other),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_such_recording", format!("There is no recording {id} that you may view."))
}

/// The row, if it exists and the caller may see it.
fn visible(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<RecordingRow, ApiError> {
    let access = access(state, signed_in)?;
    let row = state.store.recording(id).map_err(|_| ApiError::internal())?.ok_or_else(|| not_found(id))?;
    if access == RecordingAccess::Own && row.user != signed_in.session.user.name {
        state.audit.record(
            Kind::RecordingDenied,
            Some(&signed_in.session.user.name),
            None,
            &format!("{id}: another user's"),
        );
        return Err(not_found(id));
    }
    Ok(row)
}

/// Audits a read of `row` by the caller once per viewing.
fn viewed(state: &AppState, signed_in: &SignedIn, row: &RecordingRow, what: &str) {
    let viewer = &signed_in.session.user.name;
    let starts = state.viewings.lock().unwrap_or_else(|p| p.into_inner()).starts(viewer, &row.id, crate::auth::now());
    if starts {
        let detail =
            format!("{}: {}@{} by {}; first read of this viewing: {what}", row.id, row.login, row.target, row.user);
        state.audit.record(Kind::RecordingView, Some(viewer), None, &detail);
    }
}

fn info(state: &AppState, row: RecordingRow) -> RecordingInfo {
    // A recording still being written has no size in the table yet: here, its spool
    // file's; elsewhere, what the table says until it ends.
    let bytes = match state.archive.spooled(&row.id, Part::Recording) {
        Ok(path) if row.ended_at.is_none() && recordings::is_live(&row.id) => {
            std::fs::metadata(path).map_or(row.bytes, |m| m.len())
        }
        _ => row.bytes,
    };
    // Live: written here now, or by another proxy whose heartbeat is fresh (its bytes
    // then come from what it has uploaded, a couple of seconds behind).
    let heartbeat_fresh =
        row.heartbeat_at.is_some_and(|at| crate::auth::now().saturating_sub(at) <= recordings::completer::STALE_AFTER);
    RecordingInfo {
        live: row.ended_at.is_none() && (recordings::is_live(&row.id) || heartbeat_fresh),
        id: row.id,
        kind: recordings::kind(&row.kind),
        user: row.user,
        target: row.target,
        login: row.login,
        started_at: row.started_at,
        ended_at: row.ended_at,
        bytes,
        cut_short: recordings::cut_short(row.end_reason.as_deref()),
        end_reason: row.end_reason,
        duration_ms: None,
        started_at_ms: None,
        size: None,
    }
}

/// The recording's header, from the first bytes of its file.
async fn header(state: &AppState, row: &RecordingRow) -> Option<gatehouse_proto::pb::RecordingHeader> {
    let place = state.archive.open(row, Part::Recording).await.ok()?;
    let bytes = place.read(0..64 * 1024).await.ok()?;
    let mut reader = gatehouse_recording::Reader::new();
    reader.push(&bytes);
    match reader.next_item() {
        Ok(Some(gatehouse_recording::Item::Header(header))) => Some(header),
        _ => None,
    }
}

/// The time of the last event: read from the last keyframe on, so it costs at most one
/// keyframe interval of the file however long the recording is.
async fn duration_ms(state: &AppState, row: &RecordingRow) -> Option<u64> {
    let index = state.archive.open(row, Part::Index).await.ok()?.read_all().await.ok()?;
    let (keyframes, _) = gatehouse_recording::read_index(&index).ok()?;
    let last = keyframes.last()?;
    let place = state.archive.open(row, Part::Recording).await.ok()?;
    let mut reader = gatehouse_recording::Reader::resume_at(last.byte_offset);
    let mut latest = last.offset_ms;
    let mut at = last.byte_offset;
    const STEP: u64 = 256 * 1024;
    while at < place.len() {
        let bytes = place.read(at..at + STEP).await.ok()?;
        if bytes.is_empty() {
            break;
        }
        at += bytes.len() as u64;
        reader.push(&bytes);
        while let Ok(Some(item)) = reader.next_item() {
            if let gatehouse_recording::Item::Event { event, .. } = item {
                latest = latest.max(event.offset_ms);
            }
        }
    }
    Some(latest)
}

/// The whole recording file, from wherever it is.
async fn whole_recording(state: &AppState, row: &RecordingRow) -> std::io::Result<Vec<u8>> {
    state.archive.open(row, Part::Recording).await?.read_all().await
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    user: Option<String>,
    target: Option<String>,
    login: Option<String>,
    kind: Option<String>,
    /// Unix seconds.
    from: Option<u64>,
    to: Option<u64>,
    /// Text that appeared on screen.
    q: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// A searched text as the audit shows it: at most 100 characters.
fn query_text(text: &str) -> String {
    text.trim().chars().take(100).collect()
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/recordings", get(list))
        .route("/recordings/{id}", get(metadata))
        .route("/recordings/{id}/data/{part}", get(data))
        .route("/recordings/{id}/search", get(search))
        .route("/recordings/{id}/marks", get(marks))
        .route("/recordings/{id}/cast", get(cast))
        .route("/recordings/{id}/video", get(video_status).post(video_start))
        .route("/recordings/{id}/video/file", get(video_file))
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Json<RecordingList>, ApiError> {
    let access = access(&state, &signed_in)?;
    let mut filter = RecordingFilter {
        user: given(query.user),
        target: given(query.target),
        login: given(query.login),
        kind: given(query.kind),
        from: query.from,
        to: query.to,
        ids: None,
    };
    if access == RecordingAccess::Own {
        let me = signed_in.session.user.name.clone();
        if filter.user.as_ref().is_some_and(|u| *u != me) {
            return Ok(Json(RecordingList { items: Vec::new(), total: 0, page: 1, per_page: 0 }));
        }
        filter.user = Some(me);
    }
    let per_page = query.per_page.unwrap_or(50).clamp(1, PER_PAGE_MAX);
    let page = query.page.unwrap_or(1).max(1);
    let query_q = query.q.clone().unwrap_or_default();
    if let Some(text) = given(query.q) {
        let (candidates, _) =
            state.store.search_recordings(&filter, 0, TEXT_SEARCH_SCAN).map_err(|_| ApiError::internal())?;
        let mut ids = Vec::new();
        for row in candidates {
            let found = recordings::search::search(&state.archive, &row, &text).await;
            if found.is_ok_and(|(hits, _)| !hits.is_empty()) {
                ids.push(row.id);
            }
        }
        // A text search reads recordings: which ones it found is audited like a read.
        let detail = format!(
            "{:?} matched {}",
            query_text(&query_q),
            if ids.is_empty() { "no recordings".to_string() } else { ids.join(", ") }
        );
        state.audit.record(Kind::RecordingSearch, Some(&signed_in.session.user.name), None, &detail);
        filter.ids = Some(ids);
    }
    let (rows, total) =
        state.store.search_recordings(&filter, (page - 1) * per_page, per_page).map_err(|_| ApiError::internal())?;
    Ok(Json(RecordingList { items: rows.into_iter().map(|row| info(&state, row)).collect(), total, page, per_page }))
}

pub async fn metadata(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Json<RecordingInfo>, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    viewed(&state, &signed_in, &row, "its details");
    let (duration, header) = (duration_ms(&state, &row).await, header(&state, &row).await);
    Ok(Json(RecordingInfo {
        duration_ms: duration,
        started_at_ms: header.as_ref().map(|h| h.started_at_ms),
        size: header.as_ref().map(|h| (h.cols, h.rows)),
        ..info(&state, row)
    }))
}

/// The three files of a recording, by the names the player uses.
fn part(name: &str) -> Result<Part, ApiError> {
    Part::from_name(name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_such_part", "Parts are recording, index and keyframes.")
    })
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `len` bytes: the inclusive
/// range to send, or `Err` when it cannot be satisfied.
fn parse_range(value: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 || len == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len - 1)
        }
        (start, "") => (start.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (start, end) => {
            (start.parse().map_err(|_| ())?, end.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)))
        }
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok((start, end.min(start + MAX_RANGE - 1)))
}

pub async fn data(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, part)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    let which = self::part(&part)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
    // Any read of any part is viewing it, with or without the player, whatever the Range.
    let shown_range: String = range.as_deref().unwrap_or("all").chars().take(40).collect();
    viewed(&state, &signed_in, &row, &format!("the {part}, {shown_range}"));
    let answer = async {
        let place = state.archive.open(&row, which).await?;
        let len = place.len();
        let (status, start, end) = match range.as_deref().map(|r| parse_range(r, len)) {
            None if len <= MAX_RANGE => (StatusCode::OK, 0, len.saturating_sub(1)),
            None => (StatusCode::PARTIAL_CONTENT, 0, MAX_RANGE - 1),
            Some(Ok((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
            Some(Err(())) => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
        };
        let body = if len > 0 { place.read(start..end + 1).await? } else { Vec::new() };
        if (body.len() as u64) < end + 1 - start && len > 0 {
            return Err(std::io::Error::other("it is shorter than its length said"));
        }
        let mut response = (status, Body::from(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status == StatusCode::PARTIAL_CONTENT
            && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
        {
            headers.insert(header::CONTENT_RANGE, value);
        }
        // Where the bytes came from, for operators and tests: the spool or a file here,
        // or the object store.
        let source = if place.in_object_store() { "object-store" } else { "file" };
        headers.insert("x-gatehouse-source", HeaderValue::from_static(source));
        std::io::Result::Ok(response)
    }
    .await;
    answer.map_err(|err| {
        tracing::warn!(recording = %id, %part, %err, "cannot read a recording");
        ApiError::new(
            StatusCode::NOT_FOUND,
            "recording_missing",
            format!("The {part} of recording {id} cannot be read: {err}."),
        )
    })
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    state.audit.record(
        Kind::RecordingSearch,
        Some(&signed_in.session.user.name),
        None,
        &format!("{id}: {:?}", query.q),
    );
    let (hits, answered) = recordings::search::search(&state.archive, &row, &query.q).await.map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recording_unreadable",
            format!("The recording cannot be read: {err}."),
        )
    })?;
    let mut response = Json(SearchHits { hits }).into_response();
    // How it was answered, for operators and tests: from the search file, by a replay
    // that wrote the search file, or by a replay alone.
    response.headers_mut().insert("x-gatehouse-search", HeaderValue::from_static(answered.name()));
    Ok(response)
}

/// `GET /recordings/{id}/marks`: the moments the player's timeline marks (files moved).
pub async fn marks(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Json<gatehouse_proto::api::Marks>, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    let unreadable = |err: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recording_unreadable",
            format!("The recording cannot be read: {err}."),
        )
    };
    let bytes = whole_recording(&state, &row).await.map_err(|err| unreadable(err.to_string()))?;
    let marks = tokio::task::spawn_blocking(move || {
        gatehouse_recording::marks::marks(bytes.as_slice()).map_err(|err| err.to_string())
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(unreadable)?;
    Ok(Json(gatehouse_proto::api::Marks { marks }))
}

/// The recording as an asciicast v2 download.
pub async fn cast(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    if recordings::kind(&row.kind) == RecordingKind::Desktop {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_terminal",
            "This is a desktop recording: it has no terminal text for asciicast. Play it in the player.",
        ));
    }
    let bytes = whole_recording(&state, &row).await.map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recording_unreadable",
            format!("The recording cannot be read: {err}."),
        )
    })?;
    let text = tokio::task::spawn_blocking(move || {
        let read = gatehouse_recording::read_all(&bytes).map_err(|e| e.to_string())?;
        Ok::<_, String>(gatehouse_recording::cast::export(
            read.header.as_ref().unwrap_or(&Default::default()),
            &read.events,
        ))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "recording_unreadable", err))?;
    state.audit.record(Kind::RecordingExport, Some(&signed_in.session.user.name), None, &format!("{id} as asciicast"));
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-asciicast"));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}-{}.cast\"",
        file_part(&row.target),
        file_part(&row.login),
        row.id
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct VideoQuery {
    format: Option<String>,
}

fn video_format(query: &VideoQuery) -> Result<video::Format, ApiError> {
    video::Format::parse(query.format.as_deref().unwrap_or("webm")).map_err(|err| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_format", format!("{}.", capitalized(&err.to_string())))
    })
}

/// A name as part of a download's file name: letters, digits, `.`, `_` and `-` only
/// (a quote or `;` would break the header).
fn file_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn no_video(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_video",
        format!("No video of {id} is being made or ready on this proxy: ask for one from the player."),
    )
}

/// Starts making the desktop recording's video (or answers with the one running or
/// done): 202 and its progress.
pub async fn video_start(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<VideoQuery>,
) -> Result<(StatusCode, Json<gatehouse_proto::api::VideoExport>), ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    let format = video_format(&query)?;
    if recordings::kind(&row.kind) != RecordingKind::Desktop {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_desktop",
            "This is a terminal recording: export it as asciicast (.cast) instead of video.",
        ));
    }
    if row.ended_at.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "still_running",
            "This session is still running: its video can be made once it has ended.",
        ));
    }
    let too_big = |what: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
            format!("{what}: an admin can export it with `gatehouse recordings export ID -o FILE`."),
        )
    };
    if row.bytes > video::MAX_RECORDING_BYTES {
        return Err(too_big(format!(
            "This recording is {} MB, more than the {} MB a video is made from here",
            row.bytes >> 20,
            video::MAX_RECORDING_BYTES >> 20
        )));
    }
    // The frames to make come from its length, not its size (a long idle session is small).
    if duration_ms(&state, &row).await.is_some_and(|ms| ms > video::MAX_RECORDING_MS) {
        return Err(too_big(format!(
            "This recording is longer than the {} hours a video is made of here",
            video::MAX_RECORDING_MS / 3_600_000
        )));
    }
    let (job, new) = state.videos.start(&row.id, format).map_err(|video::Refusal::Busy| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "videos_busy",
            format!("{} videos are being made on this proxy already; try again in a minute.", video::RUNNING_MAX),
        )
    })?;
    let asked = if new { "started" } else { "asked for again" };
    state.audit.record(
        Kind::RecordingExport,
        Some(&signed_in.session.user.name),
        None,
        &format!("{id} as video ({}): {asked}", format.name()),
    );
    if new {
        // Its own task: a client that goes away mid-request does not leave it half
        // started, and the guard fails it if the task dies before it ends.
        let (state, job) = (state.clone(), job.clone());
        tokio::spawn(async move {
            let guard = video::RunGuard(job.clone());
            let bytes = match state.archive.open(&row, Part::Recording).await {
                // The size the store holds, not only what the table says.
                Ok(place) if place.len() > video::MAX_RECORDING_BYTES => {
                    Err(std::io::Error::other(format!("it is {} MB", place.len() >> 20)))
                }
                Ok(place) => place.read_all().await,
                Err(err) => Err(err),
            };
            let _ = tokio::task::spawn_blocking(move || match bytes {
                Ok(bytes) => job.run(&bytes, video::DEFAULT_FPS),
                Err(err) => job.fail(&video::ExportError::Unreadable(err.to_string())),
            })
            .await;
            drop(guard);
        });
    }
    Ok((StatusCode::ACCEPTED, Json(job.report())))
}

/// How far the video is.
pub async fn video_status(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<VideoQuery>,
) -> Result<Json<gatehouse_proto::api::VideoExport>, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    let job = state.videos.get(&row.id, video_format(&query)?).ok_or_else(|| no_video(&id))?;
    Ok(Json(job.report()))
}

/// The finished video, as a download.
pub async fn video_file(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<VideoQuery>,
) -> Result<Response, ApiError> {
    let row = visible(&state, &signed_in, &id)?;
    let format = video_format(&query)?;
    let job = state.videos.get(&row.id, format).filter(|job| job.done()).ok_or_else(|| no_video(&id))?;
    let file = tokio::fs::File::open(&job.path).await.map_err(|_| no_video(&id))?;
    let len = file.metadata().await.map(|m| m.len()).map_err(|_| ApiError::internal())?;
    viewed(&state, &signed_in, &row, &format!("video ({})", format.name()));
    // Each download is an export of its own, as each asciicast download is.
    state.audit.record(
        Kind::RecordingExport,
        Some(&signed_in.session.user.name),
        None,
        &format!("{id} as video ({}): downloaded, {len} bytes", format.name()),
    );
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(err) => Some((Err(err), None)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}-{}.{}\"",
        file_part(&row.target),
        file_part(&row.login),
        row.id,
        format.name()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_as_rfc_9110_writes_them() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Ok((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Ok((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Ok((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-1", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Err(()));
        assert_eq!(parse_range("items=0-1", 1000), Err(()));
        assert_eq!(parse_range("bytes=x-", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-", 0), Err(()));
        // Capped: Content-Range tells the client what it got.
        assert_eq!(parse_range("bytes=0-", 1 << 30), Ok((0, (8 << 20) - 1)));
    }
}
