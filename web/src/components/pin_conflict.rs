//! The warning a link with another host CA pin raises: the pin stays until the person
//! chooses, over whatever page is shown.

use leptos::prelude::*;

use crate::ssh::pin::{self, Choice, link::Conflict};

#[component]
pub fn PinConflict(conflict: RwSignal<Option<Conflict>>) -> impl IntoView {
    let choose = move |choice: Choice| {
        if let Some(found) = conflict.get_untracked() {
            pin::settle(&found, choice);
        }
        conflict.set(None);
    };
    move || {
        conflict.get().map(|found| {
            view! {
                <div class="modal-backdrop">
                    <div class="card modal" role="alertdialog" aria-modal="true" aria-labelledby="pin-conflict-title"
                        aria-describedby="pin-conflict-warning" data-testid="pin-conflict">
                        <h2 id="pin-conflict-title">"This link names another host CA"</h2>
                        <dl class="fingerprints">
                            <dt>"Pinned in this browser"</dt>
                            <dd><code data-testid="pin-current">{found.current}</code></dd>
                            <dt>"Offered by the link"</dt>
                            <dd><code data-testid="pin-offered">{found.offered}</code></dd>
                        </dl>
                        <p id="pin-conflict-warning" class="modal-warning">
                            "A link that replaces the pin could come from someone who wants to intercept your connections. "
                            "Replace it only if your admin told you the host CA changed."
                        </p>
                        <div class="modal-actions">
                            <button class="button button-primary" type="button" autofocus data-testid="pin-keep"
                                on:click=move |_| choose(Choice::Keep)>"Keep the current pin"</button>
                            <button class="button" type="button" data-testid="pin-replace"
                                on:click=move |_| choose(Choice::Replace)>"Replace the pin"</button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}
