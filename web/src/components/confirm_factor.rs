//! The fresh check of an existing factor that changing factors needs: a code from the
//! authenticator app, or one of the account's passkeys.

use leptos::prelude::*;

use crate::session::use_auth;

#[component]
pub fn ConfirmFactor(
    /// The account has an authenticator app: offer the code.
    has_totp: bool,
    /// The account has passkeys: offer one.
    has_passkeys: bool,
    on_confirmed: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let finish = move |outcome: Result<(), String>| {
        busy.set(false);
        match outcome {
            Ok(()) => on_confirmed.run(()),
            Err(message) => {
                code.set(String::new());
                error.set(Some(message));
            }
        }
    };
    let with_code = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let typed = code.get_untracked();
        leptos::task::spawn_local(async move { finish(crate::factors::confirm_with_code(&typed, &auth.csrf()).await) });
    };
    let with_passkey = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move { finish(crate::factors::confirm_with_passkey(&auth.csrf()).await) });
    };

    view! {
        <section class="confirm-factor" data-testid="confirm-factor" aria-labelledby="confirm-factor-title">
            <h2 id="confirm-factor-title">"Confirm it is you"</h2>
            <p class="lede">"Changing your passkeys needs a fresh check of a factor you already have. The change goes ahead once it passes."</p>
            {move || error.get().map(|message| view! {
                <div class="alert alert-error" role="alert" data-testid="confirm-error">
                    <span class="alert-icon" aria-hidden="true">"!"</span>
                    <span>{message}</span>
                </div>
            })}
            {has_totp.then(|| view! {
                <form class="confirm-code" on:submit=with_code novalidate>
                    <input type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="7" placeholder="123456"
                        aria-label="Code from your authenticator app" bind:value=code data-testid="confirm-code"/>
                    <button class="button button-primary" type="submit" disabled=move || busy.get()
                        data-testid="confirm-code-submit">"Confirm"</button>
                </form>
            })}
            <div class="confirm-actions">
                {has_passkeys.then(|| view! {
                    <button class="button" type="button" on:click=with_passkey disabled=move || busy.get()
                        data-testid="confirm-passkey">"Use a passkey"</button>
                })}
                <button class="button" type="button" on:click=move |_| on_cancel.run(())
                    data-testid="confirm-cancel">"Cancel"</button>
            </div>
        </section>
    }
}
