//! The browser's half of WebAuthn: `navigator.credentials.create` and `.get` with the
//! options the proxy sent (webauthn-rs-proto's types, converted to the browser's by its
//! `wasm` feature: base64url fields become ArrayBuffers and back).

use gatehouse_proto::api::{AssertionChallenge, PasskeyAssertion, RegistrationChallenge};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use webauthn_rs_proto::{PublicKeyCredential, RegisterPublicKeyCredential};

/// Why no credential came back, as a sentence.
fn explain(err: wasm_bindgen::JsValue) -> String {
    let name = js_sys::Reflect::get(&err, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" => "The passkey prompt was cancelled or timed out. Try again.".into(),
        "InvalidStateError" => "This passkey is already registered on your account.".into(),
        "SecurityError" => {
            "The browser refused: this page's address does not match Gatehouse's passkey settings.".into()
        }
        "NotSupportedError" => "This browser or device does not support passkeys.".into(),
        _ => format!("The passkey did not answer ({name})."),
    }
}

fn credentials() -> Result<web_sys::CredentialsContainer, String> {
    web_sys::window().map(|w| w.navigator().credentials()).ok_or_else(|| "No browser window.".to_string())
}

/// Creates a passkey for a registration challenge.
pub async fn create(challenge: RegistrationChallenge) -> Result<RegisterPublicKeyCredential, String> {
    let options: web_sys::CredentialCreationOptions = challenge.options.into();
    let promise = credentials()?.create_with_options(&options).map_err(explain)?;
    let credential = JsFuture::from(promise).await.map_err(explain)?;
    let credential: web_sys::PublicKeyCredential =
        credential.dyn_into().map_err(|_| "No passkey was made.".to_string())?;
    Ok(RegisterPublicKeyCredential::from(credential))
}

/// Asks a passkey to sign an assertion challenge.
pub async fn get(challenge: AssertionChallenge) -> Result<PasskeyAssertion, String> {
    let challenge_id = challenge.challenge_id.clone();
    let options: web_sys::CredentialRequestOptions = challenge.options.into();
    let promise = credentials()?.get_with_options(&options).map_err(explain)?;
    let credential = JsFuture::from(promise).await.map_err(explain)?;
    let credential: web_sys::PublicKeyCredential =
        credential.dyn_into().map_err(|_| "No passkey answered.".to_string())?;
    Ok(PasskeyAssertion { challenge_id, credential: PublicKeyCredential::from(credential) })
}
