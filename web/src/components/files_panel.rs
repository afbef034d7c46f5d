//! The Files panel beside an SSH tab's terminal: the node's folders over the tab's SFTP
//! channel ([`crate::ssh::files`]), and a queue of transfers run one at a time
//! ([`crate::ssh::transfer`]) with progress, speed, time left and cancel. Files dropped
//! on the terminal join the same queue ([`FileQueue::upload`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::*;
use tokio::sync::mpsc;
use wasm_bindgen::JsCast;

use crate::ssh::files::{self, Entry, Remote};
use crate::ssh::transfer;

#[derive(Debug, Clone, PartialEq)]
enum State {
    Queued,
    Running,
    Done,
    Failed(String),
}

#[derive(Clone)]
struct Transfer {
    id: u32,
    name: String,
    upload: bool,
    total: RwSignal<u64>,
    done: RwSignal<u64>,
    state: RwSignal<State>,
    started: RwSignal<f64>,
    cancel: transfer::Cancel,
}

enum Job {
    /// A browser file to `relative` (slashes make folders) under `dir`.
    Upload {
        file: web_sys::File,
        dir: String,
        relative: String,
    },
    Download {
        path: String,
        name: String,
    },
}

/// The tab's SFTP session and transfer queue, shared by the panel and the terminal's
/// drop target.
#[derive(Clone, Copy)]
pub struct FileQueue {
    remote: RwSignal<Option<Result<Remote, String>>, LocalStorage>,
    jobs: StoredValue<Option<mpsc::UnboundedSender<(Transfer, Job)>>, LocalStorage>,
    transfers: RwSignal<Vec<Transfer>, LocalStorage>,
    cwd: RwSignal<String>,
    /// A sentence about the last thing refused or failed outside a transfer.
    notice: RwSignal<Option<String>>,
    /// Bumped when a transfer changes the folder, to list it again.
    changed: RwSignal<u32>,
    next_id: StoredValue<u32>,
}

impl FileQueue {
    pub fn new() -> FileQueue {
        FileQueue {
            remote: RwSignal::new_local(None),
            jobs: StoredValue::new_local(None),
            transfers: RwSignal::new_local(Vec::new()),
            cwd: RwSignal::new(String::new()),
            notice: RwSignal::new(None),
            changed: RwSignal::new(0),
            next_id: StoredValue::new(0),
        }
    }

    /// The tab (re)connected: `None` until the SFTP channel opens.
    pub fn set_remote(self, remote: Option<Result<Remote, String>>) {
        self.jobs.set_value(None);
        if let Some(Ok(remote)) = &remote {
            self.cwd.set(remote.home.clone());
            let (tx, rx) = mpsc::unbounded_channel();
            self.jobs.set_value(Some(tx));
            leptos::task::spawn_local(work(remote.clone(), rx, self.changed));
        }
        self.remote.set(remote);
    }

    /// Files dropped or picked, uploaded into the folder on show.
    pub fn upload(self, files: Vec<web_sys::File>) {
        let Some(Ok(remote)) = self.remote.get_untracked() else {
            self.notice.set(Some("Files are not available in this session: nothing was uploaded.".into()));
            return;
        };
        if !remote.allowed.upload {
            self.notice.set(Some(
                "Your roles allow downloads only from this node: uploads are refused. Ask an admin for file_transfer = \"upload\" or \"both\".".into(),
            ));
            return;
        }
        let dir = self.cwd.get_untracked();
        for file in files {
            // A folder picker's files carry their path under the folder chosen.
            let relative = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|path| !path.is_empty())
                .unwrap_or_else(|| file.name());
            let size = file.size() as u64;
            self.queue(relative.clone(), true, size, Job::Upload { file, dir: dir.clone(), relative });
        }
    }

    fn download(self, path: String, name: String, size: u64) {
        self.queue(name.clone(), false, size, Job::Download { path, name });
    }

    fn queue(self, name: String, upload: bool, size: u64, job: Job) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let transfer = Transfer {
            id,
            name,
            upload,
            total: RwSignal::new(size),
            done: RwSignal::new(0),
            state: RwSignal::new(State::Queued),
            started: RwSignal::new(0.0),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        self.transfers.update(|all| all.push(transfer.clone()));
        let sent =
            self.jobs.with_value(|jobs| jobs.as_ref().is_some_and(|tx| tx.send((transfer.clone(), job)).is_ok()));
        if !sent {
            transfer.state.set(State::Failed("The session is not connected.".into()));
        }
    }
}

impl Default for FileQueue {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the queued transfers of one SFTP session, one at a time.
async fn work(remote: Remote, mut jobs: mpsc::UnboundedReceiver<(Transfer, Job)>, changed: RwSignal<u32>) {
    while let Some((transfer, job)) = jobs.recv().await {
        if transfer.cancel.load(Ordering::Relaxed) {
            transfer.state.set(State::Failed("Cancelled.".into()));
            continue;
        }
        transfer.state.set(State::Running);
        transfer.started.set(js_sys::Date::now());
        let result = match job {
            Job::Upload { file, dir, relative } => upload(&remote, &file, &dir, &relative, &transfer).await,
            Job::Download { path, name } => {
                let progress = |done, total| {
                    transfer.done.set(done);
                    transfer.total.set(total);
                };
                transfer::download(&remote, &path, &name, &transfer.cancel, &progress).await
            }
        };
        transfer.state.set(match result {
            Ok(()) => State::Done,
            Err(why) => State::Failed(why),
        });
        if transfer.upload {
            changed.update(|n| *n += 1);
        }
    }
}

async fn upload(remote: &Remote, file: &web_sys::File, dir: &str, relative: &str, t: &Transfer) -> Result<(), String> {
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
    let Some((name, folders)) = parts.split_last() else {
        return Err("The file has no name.".into());
    };
    let mut at = dir.to_string();
    for folder in folders {
        at = files::join(&at, files::plain_name(folder)?);
        remote.ensure_dir(&at).await?;
    }
    let target = files::join(&at, files::plain_name(name)?);
    transfer::upload(remote, file, &target, &t.cancel, &|done| t.done.set(done)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Name,
    Size,
    Modified,
}

#[component]
pub fn FilesPanel(queue: FileQueue) -> impl IntoView {
    let entries = RwSignal::new(Vec::<Entry>::new());
    let sort = RwSignal::new((Sort::Name, true));
    let loading = RwSignal::new(false);
    let FileQueue { remote, cwd, notice, changed, .. } = queue;
    let current = move || remote.with(|r| r.as_ref().and_then(|r| r.as_ref().ok()).cloned());

    // List the folder whenever it, the session or its contents change.
    Effect::new(move |_| {
        changed.track();
        let dir = cwd.get();
        let Some(remote) = current() else { return };
        loading.set(true);
        leptos::task::spawn_local(async move {
            // A notice stays until the next action: listing again after a refusal must
            // not wipe the sentence that says why.
            match remote.list(&dir).await {
                Ok(list) => entries.set(list),
                Err(why) => notice.set(Some(why)),
            }
            loading.set(false);
        });
    });

    let sorted = move || {
        let (key, ascending) = sort.get();
        let mut list = entries.get();
        list.sort_by(|a, b| {
            let order = match key {
                Sort::Name => a.name.cmp(&b.name),
                Sort::Size => a.size.cmp(&b.size),
                Sort::Modified => a.modified.cmp(&b.modified),
            };
            b.dir.cmp(&a.dir).then(if ascending { order } else { order.reverse() })
        });
        list
    };
    let sort_by =
        move |key: Sort| sort.update(|(k, asc)| if *k == key { *asc = !*asc } else { (*k, *asc) = (key, true) });
    let allowed = move || current().map(|r| r.allowed).unwrap_or_default();

    let operate = move |work: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>| {
        leptos::task::spawn_local(async move {
            match work.await {
                Ok(()) => {
                    notice.set(None);
                    changed.update(|n| *n += 1);
                }
                Err(why) => notice.set(Some(why)),
            }
        });
    };
    let new_folder = move |_| {
        let Some(remote) = current() else { return };
        let Some(name) = prompt("Name of the new folder") else { return };
        let path = match files::plain_name(&name) {
            Ok(name) => files::join(&cwd.get_untracked(), name),
            Err(why) => return notice.set(Some(why)),
        };
        operate(Box::pin(async move { remote.mkdir(&path).await }));
    };
    let rename = move |entry: Entry| {
        let Some(remote) = current() else { return };
        let Some(name) = prompt_with(&format!("Rename {} to", entry.name), &entry.name) else { return };
        let dir = cwd.get_untracked();
        let to = match files::plain_name(&name) {
            Ok(name) => files::join(&dir, name),
            Err(why) => return notice.set(Some(why)),
        };
        let from = files::join(&dir, &entry.name);
        operate(Box::pin(async move { remote.rename(&from, &to).await }));
    };
    let delete = move |entry: Entry| {
        let Some(remote) = current() else { return };
        let what = if entry.dir { "the folder" } else { "the file" };
        if !confirm(&format!("Delete {what} {} on the node? This cannot be undone.", entry.name)) {
            return;
        }
        let path = files::join(&cwd.get_untracked(), &entry.name);
        operate(Box::pin(async move { remote.remove(&path, entry.dir).await }));
    };
    let picked = move |ev: web_sys::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        queue.upload(file_list(input.files()));
        input.set_value("");
    };

    // The folder picker: an attribute Leptos has no name for.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });

    view! {
        <aside class="files-panel" data-testid="files-panel" aria-label="Files on the node">
            {move || match remote.get() {
                None => view! { <p class="files-note">"Opening files…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="files-note" role="alert" data-testid="files-error">{why}</p> }.into_any(),
                Some(Ok(_)) => view! {
                    <div class="files-bar">
                        <button class="button button-small" type="button" title="Up one folder" data-testid="files-up"
                            on:click=move |_| cwd.update(|dir| *dir = files::parent(dir))>"↑"</button>
                        <span class="files-path" data-testid="files-path" title=move || cwd.get()>{move || cwd.get()}</span>
                        <button class="button button-small" type="button" data-testid="files-refresh"
                            on:click=move |_| changed.update(|n| *n += 1)>"Refresh"</button>
                    </div>
                    <Show when=move || allowed().upload>
                        <div class="files-bar">
                            <label class="button button-small">"Upload files"
                                <input type="file" multiple class="visually-hidden" data-testid="files-upload" on:change=picked/>
                            </label>
                            <label class="button button-small">"Upload a folder"
                                <input type="file" multiple node_ref=folder_input class="visually-hidden" data-testid="files-upload-folder" on:change=picked/>
                            </label>
                            <button class="button button-small" type="button" data-testid="files-mkdir" on:click=new_folder>"New folder"</button>
                        </div>
                    </Show>
                    <table class="files-table" data-testid="files-list" data-loading=move || loading.get().to_string()>
                        <thead><tr>
                            <th><button type="button" class="files-sort" data-testid="sort-name" on:click=move |_| sort_by(Sort::Name)>"Name"</button></th>
                            <th><button type="button" class="files-sort" data-testid="sort-size" on:click=move |_| sort_by(Sort::Size)>"Size"</button></th>
                            <th><button type="button" class="files-sort" data-testid="sort-modified" on:click=move |_| sort_by(Sort::Modified)>"Modified"</button></th>
                            <th></th>
                        </tr></thead>
                        <tbody>
                            <For each=sorted key=|e| (e.name.clone(), e.dir, e.size, e.modified) let:entry>
                                <Row entry=entry cwd=cwd queue=queue allowed=Signal::derive(allowed)
                                    on_rename=Callback::new(rename) on_delete=Callback::new(delete)/>
                            </For>
                        </tbody>
                    </table>
                }.into_any(),
            }}
            {move || notice.get().map(|why| view! { <p class="files-note files-notice" role="alert" data-testid="files-notice">{why}</p> })}
            <Transfers queue=queue/>
        </aside>
    }
}

#[component]
fn Row(
    entry: Entry,
    cwd: RwSignal<String>,
    queue: FileQueue,
    allowed: Signal<files::Allowed>,
    on_rename: Callback<Entry>,
    on_delete: Callback<Entry>,
) -> impl IntoView {
    let name = entry.name.clone();
    let label = name.clone();
    let open = {
        let entry = entry.clone();
        move |_| {
            let path = files::join(&cwd.get_untracked(), &entry.name);
            if entry.dir {
                cwd.set(path);
            } else if allowed.get_untracked().download {
                queue.download(path, entry.name.clone(), entry.size);
            }
        }
    };
    let (for_rename, for_delete) = (entry.clone(), entry.clone());
    view! {
        <tr data-testid="file-row" data-name=name.clone() data-dir=entry.dir.to_string()>
            <td><button type="button" class="files-name" data-testid="file-open" on:click=open>
                {label}{if entry.dir { "/" } else { "" }}</button></td>
            <td class="files-size">{if entry.dir { String::new() } else { bytes(entry.size) }}</td>
            <td class="files-date">{date(entry.modified)}</td>
            <td class="files-actions">
                <Show when=move || allowed.get().upload>
                    <button type="button" class="button button-small" data-testid="file-rename"
                        on:click={ let e = for_rename.clone(); move |_| on_rename.run(e.clone()) }>"Rename"</button>
                    <button type="button" class="button button-small button-danger" data-testid="file-delete"
                        on:click={ let e = for_delete.clone(); move |_| on_delete.run(e.clone()) }>"Delete"</button>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn Transfers(queue: FileQueue) -> impl IntoView {
    let transfers = queue.transfers;
    let clear = move |_| {
        transfers.update(|all| all.retain(|t| matches!(t.state.get_untracked(), State::Queued | State::Running)))
    };
    view! {
        <Show when=move || transfers.with(|t| !t.is_empty())>
            <div class="files-transfers" data-testid="transfers">
                <div class="files-bar"><strong>"Transfers"</strong>
                    <button class="button button-small" type="button" on:click=clear>"Clear finished"</button></div>
                <For each=move || transfers.get() key=|t| t.id let:t>
                    <TransferRow t=t/>
                </For>
            </div>
        </Show>
    }
}

#[component]
fn TransferRow(t: Transfer) -> impl IntoView {
    let Transfer { name, upload, total, done, state, started, cancel, .. } = t;
    let label = name.clone();
    let cancel = StoredValue::new(cancel);
    let percent = move || {
        let total = total.get();
        if total == 0 {
            if state.get() == State::Done { 100.0 } else { 0.0 }
        } else {
            done.get() as f64 * 100.0 / total as f64
        }
    };
    let rate = move || {
        let seconds = (js_sys::Date::now() - started.get()) / 1000.0;
        if seconds <= 0.0 { 0.0 } else { done.get() as f64 / seconds }
    };
    let detail = move || match state.get() {
        State::Queued => "Waiting…".to_string(),
        State::Running => {
            let rate = rate();
            let left = if rate > 0.0 { (total.get().saturating_sub(done.get())) as f64 / rate } else { 0.0 };
            format!(
                "{} of {} · {}/s · {} left",
                bytes(done.get()),
                bytes(total.get()),
                bytes(rate as u64),
                duration(left)
            )
        }
        State::Done => format!("Done: {}", bytes(total.get())),
        State::Failed(why) => why,
    };
    view! {
        <div class="files-transfer" data-testid="transfer" data-name=name.clone()
            data-direction=if upload { "upload" } else { "download" }
            data-state=move || match state.get() {
                State::Queued => "queued", State::Running => "running", State::Done => "done", State::Failed(_) => "failed",
            }>
            <div class="files-transfer-head">
                <span>{if upload { "↑ " } else { "↓ " }}{label}</span>
                <Show when=move || matches!(state.get(), State::Queued | State::Running)>
                    <button type="button" class="button button-small" data-testid="transfer-cancel"
                        on:click=move |_| cancel.with_value(|c| c.store(true, Ordering::Relaxed))>"Cancel"</button>
                </Show>
            </div>
            <progress max="100" value=move || percent().to_string()></progress>
            <div class="files-transfer-detail" data-testid="transfer-detail">{detail}</div>
        </div>
    }
}

/// The files of a picker or a drop.
pub fn file_list(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

fn prompt(message: &str) -> Option<String> {
    prompt_with(message, "")
}

fn prompt_with(message: &str, default: &str) -> Option<String> {
    web_sys::window()?.prompt_with_message_and_default(message, default).ok().flatten().filter(|s| !s.trim().is_empty())
}

fn confirm(message: &str) -> bool {
    web_sys::window().and_then(|w| w.confirm_with_message(message).ok()).unwrap_or(false)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 { format!("{}h {:02}m", s / 3600, s / 60 % 60) } else { format!("{}m {:02}s", s / 60, s % 60) }
}

fn date(unix: u32) -> String {
    if unix == 0 {
        return String::new();
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(f64::from(unix) * 1000.0));
    String::from(d.to_iso_string()).chars().take(16).collect::<String>().replace('T', " ")
}
