//! The owner's side of a joined session, in the session's bar: who is in it, the
//! invite form, and, for a moderated session, that it waits for (or lost) its
//! moderator. Asks `GET /api/v1/live` every second while the session runs and finds its
//! own session by the tab's name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gatehouse_proto::api;
use leptos::prelude::*;

use crate::session::use_auth;

/// `role:NAME` names a role, anything else a person.
fn split_invites(text: &str) -> api::LiveInvite {
    let mut invite = api::LiveInvite::default();
    for item in text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        match item.strip_prefix("role:") {
            Some(role) => invite.roles.push(role.to_string()),
            None => invite.users.push(item.to_string()),
        }
    }
    invite
}

#[component]
pub fn SessionShare(tab: String, #[prop(into)] connected: Signal<bool>) -> impl IntoView {
    let auth = use_auth();
    let shared = RwSignal::new(None::<api::LiveShared>);
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let alive = Arc::new(AtomicBool::new(true));
    let still = alive.clone();
    on_cleanup(move || still.store(false, Ordering::Relaxed));
    leptos::task::spawn_local(async move {
        while alive.load(Ordering::Relaxed) {
            if connected.get_untracked() {
                if let Ok(list) = crate::api::get::<api::LiveSessions>("/api/v1/live").await {
                    let mine = list.sessions.into_iter().find(|s| s.mine && s.tab.as_deref() == Some(tab.as_str()));
                    shared.set(mine);
                }
            } else if shared.with_untracked(Option::is_some) {
                shared.set(None);
            }
            gloo_timers::future::TimeoutFuture::new(1_000).await;
        }
    });
    let send_invite = move || {
        let Some(id) = shared.with_untracked(|s| s.as_ref().map(|s| s.id.clone())) else { return };
        let invite = split_invites(&draft.get_untracked());
        let csrf = auth.csrf();
        leptos::task::spawn_local(async move {
            match crate::api::post::<_, api::LiveShared>(&format!("/api/v1/live/{id}/invite"), &invite, &csrf).await {
                Ok(updated) => {
                    error.set(None);
                    draft.set(String::new());
                    shared.update(|s| {
                        if let Some(s) = s {
                            s.invited_users = updated.invited_users;
                            s.invited_roles = updated.invited_roles;
                        }
                    });
                }
                Err(failure) => error.set(Some(failure.message)),
            }
        });
    };
    move || {
        shared.get().map(|s| {
            let state = s.state.clone();
            let roles = s.moderators.join(" or ");
            let notice = match state.as_str() {
                "waiting" => Some(format!(
                    "Waiting for a moderator ({roles}) to join. Nothing you type reaches the node until one does."
                )),
                "paused" => Some(format!(
                    "Paused: the moderator left. Nothing you type reaches the node until a moderator ({roles}) joins again; without one the session ends."
                )),
                _ => None,
            };
            let invited: Vec<String> = s
                .invited_users
                .iter()
                .cloned()
                .chain(s.invited_roles.iter().map(|r| format!("role {r}")))
                .collect();
            let people = s
                .participants
                .iter()
                .map(|p| {
                    let label = format!("{} ({}{})", p.user, p.mode, if p.moderator { ", moderator" } else { "" });
                    view! { <li data-testid="participant" data-user=p.user.clone() data-mode=p.mode.clone()>{label}</li> }
                })
                .collect_view();
            view! {
                <div class="share-bar" data-testid="share-bar" data-state=state.clone()>
                    {notice.map(|text| view! {
                        <div class="alert alert-warn share-notice" role="status" data-testid="share-notice">{text}</div>
                    })}
                    <span class="share-label">"In this session:"</span>
                    <ul class="share-people" data-testid="participants">
                        <li data-testid="participant" data-user=s.owner.clone() data-mode="owner">{format!("{} (you)", s.owner)}</li>
                        {people}
                    </ul>
                    <form class="share-invite" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        send_invite();
                    }>
                        <input type="text" class="share-input" aria-label="Invite people, or role:NAME"
                            placeholder="Invite: names, or role:NAME" bind:value=draft data-testid="invite-input"/>
                        <button class="button button-small" type="submit" data-testid="invite">"Invite"</button>
                    </form>
                    {(!invited.is_empty()).then(|| view! {
                        <span class="share-invited" data-testid="invited">{format!("Invited: {}", invited.join(", "))}</span>
                    })}
                    {move || error.get().map(|e| view! { <span class="share-error" role="alert">{e}</span> })}
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invites_split_into_people_and_roles() {
        let invite = split_invites("wes, role:auditor  pia,");
        assert_eq!(invite.users, vec!["wes", "pia"]);
        assert_eq!(invite.roles, vec!["auditor"]);
    }
}
