//! `/live`: the live sessions the person may see on this proxy (their own, those they
//! were invited to or moderate, and every one for auditors), each with the ways they may
//! join it.

use gatehouse_proto::api::LiveSessions;
use leptos::prelude::*;

use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;

#[component]
pub fn LivePage() -> impl IntoView {
    view! { <RequireSession><LiveList/></RequireSession> }
}

#[component]
fn LiveList() -> impl IntoView {
    let list = LocalResource::new(|| crate::api::get::<LiveSessions>("/api/v1/live"));
    view! {
        <section class="page">
            <h1>"Live sessions"</h1>
            <p class="muted">"Sessions running on this proxy that you own, were invited to, or may watch. Behind a load balancer, a session is joined on the proxy that runs it."</p>
            <Suspense fallback=|| view! { <Loading label="Loading live sessions…"/> }>
                {move || list.get().map(|result| match result {
                    Err(failure) => view! { <p class="alert alert-error" role="alert">{failure.message}</p> }.into_any(),
                    Ok(live) if live.sessions.is_empty() => view! {
                        <p data-testid="no-live">"No live sessions you may join right now."</p>
                    }.into_any(),
                    Ok(live) => view! {
                        <ul class="live-list" data-testid="live-list">
                            {live.sessions.into_iter().map(|s| {
                                let who = s.participants.iter().map(|p| p.user.clone()).collect::<Vec<_>>().join(", ");
                                let joins = s.may_join.iter().map(|mode| {
                                    let href = format!("/join/{}?mode={mode}", s.id);
                                    let label = if mode == "peer" { "Join as peer" } else { "Watch" };
                                    view! { <a class="button button-small" href=href data-testid=format!("join-{mode}")>{label}</a> }
                                }).collect_view();
                                view! {
                                    <li class="card live-item" data-testid="live-session" data-owner=s.owner.clone() data-id=s.id.clone() data-state=s.state.clone()>
                                        <strong>{format!("{}@{}", s.login, s.node)}</strong>
                                        <span>{format!("{}'s session", s.owner)}</span>
                                        <span class="badge">{s.state.clone()}</span>
                                        <span class="muted">{if who.is_empty() { "nobody else in it".to_string() } else { format!("with {who}") }}</span>
                                        {joins}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
