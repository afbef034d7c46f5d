//! Why a single sign-on did not sign someone in.

use crate::store::StoreError;

/// Why a single sign-on did not sign someone in: each a sentence for the sign-in page.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("There is no sign-in called {0:?} here. Go back to the sign-in page and pick one of its buttons.")]
    UnknownConnector(String),
    #[error(
        "Gatehouse cannot reach {provider} to sign you in ({detail}). Try again in a minute; if it goes on, tell an admin."
    )]
    ProviderDown { provider: String, detail: String },
    #[error("{provider} did not sign you in: {detail}. Start again from the sign-in page if you want to go on.")]
    Declined { provider: String, detail: String },
    #[error("This sign-in has expired or was already used. Start again from the sign-in page.")]
    FlowUnknown,
    #[error(
        "This sign-in went to {provider} but came back from somewhere else, so Gatehouse refused it. Start again from the sign-in page; if it happens again, tell an admin."
    )]
    WrongProvider { provider: String },
    #[error(
        "This sign-in was started in another browser, or this browser lost its cookie. Start again from the sign-in page, in this browser."
    )]
    WrongBrowser,
    #[error(
        "{provider} refused to finish the sign-in ({detail}): its code may have been used already or have expired. Start again from the sign-in page."
    )]
    CodeRefused { provider: String, detail: String },
    #[error(
        "{provider}'s answer does not prove who you are ({detail}), so Gatehouse refused it. Tell an admin: the connector may be set up wrongly, or someone tampered with the sign-in."
    )]
    TokenInvalid { provider: String, detail: String },
    #[error(
        "Your Gatehouse account was made through another issuer than the one {provider} uses now, so it was not signed in. Ask an admin."
    )]
    IssuerChanged { provider: String },
    #[error("Your account at {provider} is in no group that gives a Gatehouse role. Ask an admin for access.")]
    NoRole { provider: String },
    #[error(
        "{provider} did not give a user name Gatehouse can use (claim {claim:?}: lowercase letters, digits, ., _ and -). Tell an admin."
    )]
    NoName { provider: String, claim: String },
    #[error(
        "A Gatehouse account named {name} already exists and is not linked to {provider}, so it was not taken over. Ask an admin."
    )]
    NameTaken { provider: String, name: String },
    #[error("Gatehouse cannot keep track of sign-ins right now. Try again in a minute.")]
    Store(#[from] StoreError),
}

impl SsoError {
    /// A short code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::UnknownConnector(_) => "sso_unknown",
            SsoError::ProviderDown { .. } => "sso_provider_down",
            SsoError::Declined { .. } => "sso_declined",
            SsoError::FlowUnknown => "sso_flow_unknown",
            SsoError::WrongProvider { .. } => "sso_wrong_provider",
            SsoError::WrongBrowser => "sso_wrong_browser",
            SsoError::CodeRefused { .. } => "sso_code_refused",
            SsoError::TokenInvalid { .. } => "sso_token_invalid",
            SsoError::NoRole { .. } => "sso_no_role",
            SsoError::IssuerChanged { .. } => "sso_issuer_changed",
            SsoError::NoName { .. } => "sso_no_name",
            SsoError::NameTaken { .. } => "sso_name_taken",
            SsoError::Store(_) => "sso_unavailable",
        }
    }
}

/// A provider's own words, kept short.
pub(super) fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}
