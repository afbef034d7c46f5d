//! Changing the account's second factors (adding and removing passkeys), and the fresh
//! check of a factor the account already has, which the proxy asks for first unless the
//! session confirmed one in the last five minutes (`confirm_required`). After a passed
//! check the same change is tried again.

use gatehouse_proto::api::{CONFIRM_REQUIRED, ConfirmFactor, NewPasskey, PasskeyList, RegistrationChallenge};

use crate::api::{self, Failure};

/// A change the person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create a passkey with this name.
    Add {
        name: String,
    },
    Remove {
        id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Confirm an existing factor first, then try the change again.
    ConfirmFirst,
    /// The change did not happen; the sentence says why.
    Said(String),
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Refusal {
        if failure.code == CONFIRM_REQUIRED { Refusal::ConfirmFirst } else { Refusal::Said(failure.message) }
    }
}

/// Makes the change; the account's passkeys afterwards.
pub async fn apply(change: &Change, csrf: &str) -> Result<PasskeyList, Refusal> {
    match change {
        Change::Add { name } => {
            let challenge: RegistrationChallenge = api::post("/api/v1/account/passkeys/start", &(), csrf).await?;
            let challenge_id = challenge.challenge_id.clone();
            let credential = crate::passkey::create(challenge).await.map_err(Refusal::Said)?;
            let answer = NewPasskey { challenge_id, name: name.clone(), credential };
            Ok(api::post("/api/v1/account/passkeys/finish", &answer, csrf).await?)
        }
        Change::Remove { id } => Ok(api::send_delete(&format!("/api/v1/account/passkeys/{id}"), csrf).await?),
    }
}

/// Confirms with a code from the authenticator app.
pub async fn confirm_with_code(code: &str, csrf: &str) -> Result<(), String> {
    let code = code.replace(' ', "");
    if code.is_empty() {
        return Err("Type the 6-digit code from your authenticator app.".into());
    }
    confirm(&ConfirmFactor { totp_code: Some(code), ..ConfirmFactor::default() }, csrf).await
}

/// Confirms with one of the account's passkeys.
pub async fn confirm_with_passkey(csrf: &str) -> Result<(), String> {
    let challenge = api::post("/api/v1/account/confirm/start", &(), csrf).await.map_err(|f| f.message)?;
    let assertion = crate::passkey::get(challenge).await?;
    let answer = ConfirmFactor {
        challenge_id: Some(assertion.challenge_id),
        credential: Some(assertion.credential),
        ..ConfirmFactor::default()
    };
    confirm(&answer, csrf).await
}

async fn confirm(answer: &ConfirmFactor, csrf: &str) -> Result<(), String> {
    api::post_empty("/api/v1/account/confirm", answer, csrf).await.map_err(|f| f.message)
}
