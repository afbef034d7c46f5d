//! "Export video" for a desktop recording: the proxy makes the file (ffmpeg), this asks
//! it to start, shows how far it is, and offers the download when it is done.

use gatehouse_proto::api::VideoExport;
use leptos::prelude::*;

use crate::session::use_auth;

/// How often the progress is asked for.
const POLL_MS: u32 = 500;

#[component]
pub fn VideoExportButton(
    /// `/api/v1/recordings/{id}`.
    base: String,
) -> impl IntoView {
    let auth = use_auth();
    let format = RwSignal::new("webm".to_string());
    let export = RwSignal::new(None::<VideoExport>);
    let error = RwSignal::new(None::<String>);
    let busy = move || export.with(|e| e.as_ref().is_some_and(|e| e.state == "running"));
    let base = StoredValue::new(base);
    let start = move |_| {
        let url = format!("{}/video?format={}", base.get_value(), format.get_untracked());
        let csrf = auth.csrf();
        error.set(None);
        leptos::task::spawn_local(async move {
            let mut answer = crate::api::post::<_, VideoExport>(&url, &(), &csrf).await;
            loop {
                match answer {
                    Ok(report) => {
                        let running = report.state == "running";
                        export.set(Some(report));
                        if !running {
                            return;
                        }
                    }
                    Err(failure) => {
                        export.set(None);
                        return error.set(Some(failure.message));
                    }
                }
                gloo_timers::future::TimeoutFuture::new(POLL_MS).await;
                answer = crate::api::get::<VideoExport>(&url).await;
            }
        });
    };
    view! {
        <div class="video-export" data-testid="video-export">
            <select aria-label="Video format" data-testid="video-format" on:change=move |ev| format.set(event_target_value(&ev))
                disabled=busy>
                <option value="webm" selected>"WebM"</option>
                <option value="mp4">"MP4"</option>
            </select>
            <button class="button button-small" type="button" data-testid="export-video" on:click=start disabled=busy
                title="Make a video file of this recording on the proxy, then download it">"Export video"</button>
            {move || export.get().map(|e| match e.state.as_str() {
                "running" => {
                    let percent = (e.frames_done * 100).checked_div(e.frames_total).unwrap_or(0);
                    view! {
                        <span class="video-progress" data-testid="video-progress" data-percent=percent.to_string()>
                            <progress max="100" value=percent.to_string()></progress>
                            {format!(" Making the video… {percent}%")}
                        </span>
                    }.into_any()
                }
                "done" => {
                    let href = format!("{}/video/file?format={}", base.get_value(), e.format);
                    let size = crate::pages::recordings::size(e.bytes.unwrap_or(0));
                    view! {
                        <a class="button button-small button-primary" href=href download="" data-testid="download-video">
                            {format!("Download {} ({size})", e.format.to_uppercase())}
                        </a>
                    }.into_any()
                }
                _ => view! {
                    <span class="alert alert-error" role="alert" data-testid="video-error">{e.message.unwrap_or_default()}</span>
                }.into_any(),
            })}
            {move || error.get().map(|message| view! {
                <span class="alert alert-error" role="alert" data-testid="video-error">{message}</span>
            })}
        </div>
    }
}
