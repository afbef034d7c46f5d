use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="auth-page">
            <div class="card auth-card">
                <h1>"Page not found"</h1>
                <p class="lede">"There is nothing at this address. Check the link, or go back to your resources."</p>
                <a class="button button-primary" href="/">"Go to resources"</a>
            </div>
        </section>
    }
}
