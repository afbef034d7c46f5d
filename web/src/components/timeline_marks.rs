//! Ticks over the player's timeline: the moments a recording's marks name (files moved
//! over SFTP, people joining and leaving), each a button that seeks there, its label as
//! the tooltip. A mark is `{at_ms, kind, label}`: a new kind adds ticks, not code here.

use gatehouse_proto::api::Mark;
use leptos::prelude::*;

#[component]
pub fn TimelineMarks(marks: RwSignal<Vec<Mark>>, duration_ms: Signal<u64>, on_seek: Callback<u64>) -> impl IntoView {
    view! {
        <div class="timeline-marks" data-testid="timeline-marks">
            <For each=move || marks.get() key=|m| (m.at_ms, m.label.clone()) let:mark>
                {
                    let at = mark.at_ms;
                    let left = move || {
                        let total = duration_ms.get().max(1);
                        format!("{:.3}%", (at.min(total) as f64) * 100.0 / total as f64)
                    };
                    view! {
                        <button type="button" class="timeline-mark" data-testid="timeline-mark" data-kind=mark.kind.clone()
                            data-at=at.to_string() title=mark.label.clone() aria-label=mark.label.clone() style:left=left
                            on:click=move |_| on_seek.run(at)></button>
                    }
                }
            </For>
        </div>
    }
}
