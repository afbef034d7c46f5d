use leptos::prelude::*;

/// An error message for the person, announced by screen readers.
#[component]
pub fn ErrorAlert(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message.get().map(|text| {
            view! {
                <div class="alert alert-error" role="alert" data-testid="error">
                    <span class="alert-icon" aria-hidden="true">"!"</span>
                    <span>{text}</span>
                </div>
            }
        })
    }
}
