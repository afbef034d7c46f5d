//! Marks on a player's timeline: each `{at_ms, kind, label}` from
//! `GET /api/v1/recordings/{id}/marks` (who joined and left the session) drawn where it
//! happened, with its label as the tooltip.

use gatehouse_proto::api::{TimelineMark, TimelineMarks as Marks};
use leptos::prelude::*;

#[component]
pub fn TimelineMarks(id: String, #[prop(into)] duration: Signal<u64>) -> impl IntoView {
    let marks = RwSignal::new(Vec::<TimelineMark>::new());
    leptos::task::spawn_local(async move {
        if let Ok(found) = crate::api::get::<Marks>(&format!("/api/v1/recordings/{id}/marks")).await {
            marks.set(found.marks);
        }
    });
    view! {
        <div class="timeline-marks" data-testid="timeline-marks">
            {move || {
                let total = duration.get().max(1) as f64;
                marks.get().into_iter().map(|mark| {
                    let left = format!("{:.2}%", (mark.at_ms as f64 / total * 100.0).clamp(0.0, 100.0));
                    view! {
                        <span class=format!("timeline-mark timeline-mark-{}", mark.kind) style:left=left
                            title=mark.label.clone() data-testid="timeline-mark" data-kind=mark.kind.clone()
                            data-at=mark.at_ms.to_string()>{mark.label.clone()}</span>
                    }
                }).collect_view()
            }}
        </div>
    }
}
