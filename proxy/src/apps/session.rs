//! A launch and the app session it becomes. Launching an app is three hops, so that
//! neither a token in a URL nor a link someone else made can sign a browser in to an app:
//!
//! 1. The app's origin, asked for a page without an app session, sets a random *state*
//!    cookie (on the app's origin only) and sends the browser to Gatehouse's origin.
//! 2. There the signed-in page asks the API for a launch: the decision is made, and a
//!    one-time token bound to the state, the app, the user and the web session is kept
//!    for a minute.
//! 3. The browser brings the token back to the app's origin, which takes it (once) and
//!    checks that the browser holds the state cookie the token is bound to, then sets
//!    the app session cookie and sends the browser on to the page it first asked for.
//!
//! An app session lasts no longer than its web session and is checked against it (and
//! the roles and locks) on every request.

/// How long a launch token may wait to be brought to the app.
pub const LAUNCH_TTL_SECS: u64 = 60;

/// A launch under way (step 2 to 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The SHA-256 of the state cookie the browser must hold.
    pub state_hash: String,
    pub app: String,
    pub user: String,
    /// The SHA-256 of the web session's token.
    pub web_session: String,
    /// Where on the app to go once in (a path starting with one `/`).
    pub path: String,
    pub expires_at: u64,
}

/// An app session: the app's cookie names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSession {
    pub app: String,
    pub user: String,
    /// The SHA-256 of the web session's token: the app session ends with it.
    pub web_session: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// The path to send the browser to after a launch: `requested` if it is a path on the
/// app's origin (one leading `/`, no scheme or authority, no control characters), else
/// `/`.
pub fn landing_path(requested: &str) -> String {
    let fine = requested.starts_with('/')
        && !requested.starts_with("//")
        && !requested.starts_with("/\\")
        && requested.len() <= 2048
        && !requested.chars().any(|c| c.is_control() || c == '\\');
    if fine { requested.to_string() } else { "/".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_lands_only_on_the_apps_own_origin() {
        assert_eq!(landing_path("/dashboards?id=3#top"), "/dashboards?id=3#top");
        for elsewhere in ["//evil.example/", "/\\evil.example", "https://evil.example/", "evil", "", "/a\r\nb"] {
            assert_eq!(landing_path(elsewhere), "/", "{elsewhere:?}");
        }
    }
}
