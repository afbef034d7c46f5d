//! `/requests`: ask for a role for a while, follow your requests, and (for reviewers)
//! approve, deny or revoke others'. The proxy decides everything; the page shows what
//! it says each request allows this person to do, and asks again every two seconds.

use gatehouse_proto::api::{
    AccessRequestInfo, AccessRequests, NewAccessRequest, ReviewAccessRequest, RevokeAccessRequest,
};
use gloo_timers::callback::Interval;
use leptos::prelude::*;

use super::recordings::when;
use crate::api;
use crate::components::alert::ErrorAlert;
use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;
use crate::session::use_auth;

/// How often the page asks again.
const REFRESH_MS: u32 = 2_000;

#[component]
pub fn RequestsPage() -> impl IntoView {
    view! { <RequireSession><Requests/></RequireSession> }
}

/// `4h`, `30m`, `90s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[component]
fn Requests() -> impl IntoView {
    let auth = use_auth();
    let data = RwSignal::new(None::<AccessRequests>);
    let error = RwSignal::new(None::<String>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            match api::get::<AccessRequests>("/api/v1/requests").await {
                Ok(found) => {
                    if data.with_untracked(|d| d.as_ref() != Some(&found)) {
                        data.set(Some(found));
                    }
                }
                Err(failure) if failure.is_unauthorized() => auth.session.set(None),
                Err(failure) => error.set(Some(failure.message)),
            }
        });
    };
    refresh();
    StoredValue::new_local(Interval::new(REFRESH_MS, refresh));

    // Each part redraws only when its own data changed, so what someone is typing (a
    // reason, a comment) survives the page asking again.
    let loaded = Memo::new(move |_| data.with(Option::is_some));
    let requestable = Memo::new(move |_| data.with(|d| d.as_ref().map(|d| d.requestable.clone()).unwrap_or_default()));
    let reviewer = Memo::new(move |_| data.with(|d| d.as_ref().is_some_and(|d| d.reviewer)));
    let mine = move || data.with(|d| d.as_ref().map(|d| d.mine.clone()).unwrap_or_default());
    let to_review = move || data.with(|d| d.as_ref().map(|d| d.to_review.clone()).unwrap_or_default());
    let done = Callback::new(move |()| refresh());

    view! {
        <section class="page requests-page">
            <h1>"Access requests"</h1>
            <p class="lede">"Ask for a role for a while, with a reason. Once its reviewers approve, your resources show what it opens, until it expires."</p>
            <ErrorAlert message=error/>
            <Show when=move || loaded.get() fallback=|| view! { <Loading label="Loading access requests…"/> }>
                {move || view! { <AskForm requestable=requestable.get() error=error on_done=done/> }}
                <h2 class="section-title">"Your requests"</h2>
                <Show when=move || mine().is_empty()>
                    <p class="muted" data-testid="no-requests">"You have not asked for a role lately."</p>
                </Show>
                <ul class="request-list" data-testid="my-requests">
                    <For each=mine key=row_key let:request>
                        <RequestRow request=request reviewing=false error=error on_done=done/>
                    </For>
                </ul>
                <Show when=move || reviewer.get()>
                    <h2 class="section-title">"To review"</h2>
                    <Show when=move || to_review().is_empty()>
                        <p class="muted">"No requests for the roles you review."</p>
                    </Show>
                    <ul class="request-list" data-testid="review-requests">
                        <For each=to_review key=row_key let:request>
                            <RequestRow request=request reviewing=true error=error on_done=done/>
                        </For>
                    </ul>
                </Show>
            </Show>
        </section>
    }
}

/// What a row shows: when any of it changes, the row is drawn again.
fn row_key(r: &AccessRequestInfo) -> (i64, String, u32, usize, bool, bool) {
    (r.id, r.status.clone(), r.approvals, r.reviews.len(), r.can_review, r.can_revoke)
}

/// Ask for one of the roles this person may request.
#[component]
fn AskForm(
    requestable: Vec<gatehouse_proto::api::RequestableRole>,
    error: RwSignal<Option<String>>,
    on_done: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    if requestable.is_empty() {
        return view! { <p class="muted" data-testid="nothing-requestable">"None of your roles lets you ask for another."</p> }.into_any();
    }
    let role = RwSignal::new(requestable[0].role.clone());
    let amount = RwSignal::new(String::from("1"));
    let unit = RwSignal::new(String::from("3600"));
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let limits = requestable.clone();
    let hint = move || {
        let chosen = role.get();
        limits
            .iter()
            .find(|r| r.role == chosen)
            .map(|r| {
                let approvals =
                    if r.approvals == 1 { "1 approval".to_string() } else { format!("{} approvals", r.approvals) };
                format!("At most {}; needs {approvals}.", duration(r.max_duration_secs))
            })
            .unwrap_or_default()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let Ok(count) = amount.get_untracked().trim().parse::<u64>() else {
            error.set(Some("Give the duration as a whole number.".into()));
            return;
        };
        let per = unit.get_untracked().parse::<u64>().unwrap_or(3600);
        let body = NewAccessRequest {
            role: role.get_untracked(),
            reason: reason.get_untracked(),
            duration_secs: count.saturating_mul(per),
        };
        busy.set(true);
        error.set(None);
        let csrf = auth.csrf();
        leptos::task::spawn_local(async move {
            match api::post::<_, AccessRequestInfo>("/api/v1/requests", &body, &csrf).await {
                Ok(_) => {
                    reason.set(String::new());
                    on_done.run(());
                }
                Err(failure) => error.set(Some(failure.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card request-form" on:submit=submit data-testid="request-form">
            <h2 class="section-title">"Ask for a role"</h2>
            <div class="request-fields">
                <label>"Role"
                    <select bind:value=role data-testid="request-role">
                        {requestable.iter().map(|r| view! { <option value=r.role.clone()>{r.role.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"For"
                    <span class="request-duration">
                        <input type="number" min="1" bind:value=amount data-testid="request-duration"/>
                        <select bind:value=unit aria-label="Unit" data-testid="request-unit">
                            <option value="1">"seconds"</option>
                            <option value="60">"minutes"</option>
                            <option value="3600">"hours"</option>
                        </select>
                    </span>
                </label>
            </div>
            <small class="muted" data-testid="request-hint">{hint}</small>
            <label>"Reason"
                <textarea rows="2" maxlength="500" placeholder="What you need it for, e.g. the incident's number"
                    bind:value=reason data-testid="request-reason"></textarea>
            </label>
            <button class="button button-primary" type="submit" disabled=move || busy.get() data-testid="request-submit">
                "Request access"
            </button>
        </form>
    }
    .into_any()
}

/// One request: who, what, why, where it is; for a reviewer, what they may do with it.
#[component]
fn RequestRow(
    request: AccessRequestInfo,
    reviewing: bool,
    error: RwSignal<Option<String>>,
    on_done: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let id = request.id;
    let act = move |path: String, approve: Option<bool>| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let csrf = auth.csrf();
        let text = comment.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = match approve {
                Some(approve) => {
                    let body = ReviewAccessRequest { approve, comment: text };
                    api::post::<_, AccessRequestInfo>(&path, &body, &csrf).await
                }
                None => api::post::<_, AccessRequestInfo>(&path, &RevokeAccessRequest { comment: text }, &csrf).await,
            };
            match answer {
                Ok(_) => on_done.run(()),
                Err(failure) => error.set(Some(failure.message)),
            }
            busy.set(false);
        });
    };
    let own = reviewing && auth.session.with_untracked(|s| s.as_ref().is_some_and(|s| s.username == request.user));
    let status = request.status.clone();
    let until = match (status.as_str(), request.expires_at) {
        ("active", Some(at)) => format!(" until {}", when(at)),
        _ => String::new(),
    };
    let progress = (request.status == "pending")
        .then(|| format!("{} of {} approvals", request.approvals, request.approvals_needed));
    let reviews = request
        .reviews
        .iter()
        .map(|r| {
            let verdict = if r.approve { "approved" } else { "denied" };
            let said = if r.comment.is_empty() { String::new() } else { format!(": “{}”", r.comment) };
            view! { <li data-testid="review">{format!("{} {verdict}{said}", r.reviewer)}</li> }
        })
        .collect_view();
    let revoked = request.revoked_by.clone().map(|by| {
        let said =
            request.revoke_comment.clone().filter(|c| !c.is_empty()).map(|c| format!(": “{c}”")).unwrap_or_default();
        view! { <p class="request-revoked" data-testid="revoked-by">{format!("Revoked by {by}{said}")}</p> }
    });
    let actions = reviewing.then(|| {
        if own {
            return view! { <p class="muted" data-testid="own-request">"Your own request: another reviewer must decide it."</p> }.into_any();
        }
        if !request.can_review && !request.can_revoke {
            return ().into_any();
        }
        let review_path = format!("/api/v1/requests/{id}/review");
        let revoke_path = format!("/api/v1/requests/{id}/revoke");
        let (approve_path, deny_path) = (review_path.clone(), review_path);
        view! {
            <div class="request-actions">
                <input type="text" maxlength="500" placeholder="Comment (the requester reads it)" aria-label="Comment"
                    bind:value=comment data-testid="review-comment"/>
                {request.can_review.then(|| view! {
                    <button class="button button-primary button-small" type="button" data-testid="approve"
                        disabled=move || busy.get() on:click=move |_| act(approve_path.clone(), Some(true))>"Approve"</button>
                    <button class="button button-small" type="button" data-testid="deny"
                        disabled=move || busy.get() on:click=move |_| act(deny_path.clone(), Some(false))>"Deny"</button>
                })}
                {request.can_revoke.then(|| view! {
                    <button class="button button-small button-danger" type="button" data-testid="revoke"
                        disabled=move || busy.get() on:click=move |_| act(revoke_path.clone(), None)>"Revoke"</button>
                })}
            </div>
        }
        .into_any()
    });
    view! {
        <li class="request card" data-testid="request" data-id=id.to_string() data-status=status.clone() data-role=request.role.clone()>
            <div class="request-head">
                <span class="request-title">
                    {if reviewing { format!("{} asks for {}", request.user, request.role) } else { request.role.clone() }}
                </span>
                <span class=format!("badge request-status status-{status}") data-testid="request-status">{status.clone()}</span>
                <span class="muted">{format!("for {}{until} · asked {}", duration(request.duration_secs), when(request.created_at))}</span>
                {progress.map(|p| view! { <span class="muted" data-testid="approvals">{p}</span> })}
            </div>
            <p class="request-reason">{request.reason.clone()}</p>
            <ul class="request-reviews">{reviews}</ul>
            {revoked}
            {actions}
        </li>
    }
}
