//! JSON bodies of the `/api/v1` HTTP API, shared by the proxy (serialises) and the web
//! app (deserialises), so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// The header that every state-changing call must carry. Signed in, its value is the
/// session's CSRF token; before sign-in any non-empty value (a custom header cannot be
/// sent cross-site without a CORS preflight, which the proxy never grants).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Every error the API returns has this body, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable machine-readable code, e.g. `bad_credentials`, `locked`, `csrf`.
    pub code: String,
    /// What happened and what to do next.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    pub totp_code: String,
}

/// Who is signed in. Returned by sign-in and by `GET /api/v1/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub username: String,
    pub roles: Vec<String>,
    /// Sent back in [`CSRF_HEADER`] on state-changing calls. Kept in memory only.
    pub csrf_token: String,
    /// Unix seconds when the session ends, whatever happens.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteToken {
    pub token: String,
}

/// What the invite page needs to enrol a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteDetails {
    pub username: String,
    /// Base32 TOTP secret, for typing into an authenticator app by hand.
    pub totp_secret: String,
    /// `otpauth://totp/...` URI, the content of the QR code.
    pub otpauth_uri: String,
    /// The QR code as an SVG document (no scripts, no styles).
    pub qr_svg: String,
    pub expires_at: u64,
    pub min_password_length: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceptInvite {
    pub token: String,
    pub password: String,
    pub totp_code: String,
}

/// The nodes, desktops and web apps the signed-in user may open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub nodes: Vec<Node>,
    pub desktops: Vec<Desktop>,
    #[serde(default)]
    pub apps: Vec<App>,
}

/// A web app behind Gatehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// Its own origin, `https://NAME.<public host>`: opening it launches it.
    pub url: String,
    /// Why an admin locked this app, while the lock holds.
    #[serde(default)]
    pub locked: Option<String>,
}

/// Step 2 of launching an app: the state the app's origin gave the browser, and the
/// page on the app to land on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLaunch {
    pub state: String,
    #[serde(default)]
    pub path: String,
}

/// Where the browser takes its one-time launch token (on the app's origin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLaunched {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub addr: String,
    pub labels: Vec<(String, String)>,
    /// The OS logins the user's roles allow on this node.
    pub logins: Vec<String>,
    /// False in direct mode: the proxy only relays and cannot record.
    pub recorded: bool,
    /// Why an admin locked this node, while the lock holds (nobody can connect).
    #[serde(default)]
    pub locked: Option<String>,
    /// Opening a session needs a check from one of the user's trusted devices.
    #[serde(default)]
    pub needs_device: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desktop {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// Why an admin locked this desktop, while the lock holds.
    #[serde(default)]
    pub locked: Option<String>,
    /// Opening it needs a check from one of the user's trusted devices.
    #[serde(default)]
    pub needs_device: bool,
}

/// The browser's SSH public key, to be certified for one connection: one node, one
/// login, right before the socket opens. The decision behind the certificate is the
/// socket's decision (the proxy makes it again when the socket opens).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshCertificateRequest {
    /// OpenSSH form: `ssh-ed25519 AAAA…`.
    pub public_key: String,
    pub node: String,
    pub login: String,
}

/// The error code of a certificate request the roles answer with "check a passkey
/// first" (`/ssh/mfa/start`, `/ssh/mfa/finish` then give the certificate and a ticket).
pub const MFA_REQUIRED: &str = "mfa_required";

/// The error code of an account change that needs a fresh check of an existing factor
/// first (`/account/confirm`).
pub const CONFIRM_REQUIRED: &str = "confirm_required";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshCertificate {
    /// OpenSSH form: `ssh-ed25519-cert-v01@openssh.com AAAA…`. Its one principal is
    /// `login@node`; it lasts about a minute and opens nothing but that login there.
    pub certificate: String,
    pub node: String,
    pub login: String,
    /// Unix seconds: the certificate stops working for new sign-ins then.
    pub expires_at: u64,
    /// The host CA every node's (and the proxy's) host certificate must be signed by.
    pub host_ca_fingerprint: String,
    /// Recorded mode: the certificate is for the proxy's own SSH server only.
    pub recorded: bool,
    /// What the Files panel may move: `"none"`, `"download"`, `"upload"` or `"both"`.
    #[serde(default)]
    pub file_transfer: String,
}

/// A fresh check of a factor the account already has, before changing factors:
/// either a code from the authenticator app or a passkey's answer to
/// `/account/confirm/start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfirmFactor {
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub challenge_id: Option<String>,
    #[serde(default)]
    pub credential: Option<webauthn_rs_proto::PublicKeyCredential>,
}

/// What a recording is of; the player for it follows. In JSON (and in the proxy's
/// recordings table) the lower-case name: `"ssh"`, `"desktop"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingKind {
    /// A terminal: output bytes, played in the terminal model.
    Ssh,
    /// A remote desktop: fast-path updates, played by the desktop worker.
    Desktop,
}

impl RecordingKind {
    /// The name, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingKind::Ssh => "ssh",
            RecordingKind::Desktop => "desktop",
        }
    }

    /// The kind a name (as [`RecordingKind::as_str`] writes it) stands for.
    pub fn from_name(name: &str) -> Option<RecordingKind> {
        [RecordingKind::Ssh, RecordingKind::Desktop].into_iter().find(|kind| kind.as_str() == name)
    }
}

impl From<crate::pb::SessionKind> for RecordingKind {
    /// A recording's header says what its session was; only a desktop's is not a terminal.
    fn from(kind: crate::pb::SessionKind) -> RecordingKind {
        match kind {
            crate::pb::SessionKind::Desktop => RecordingKind::Desktop,
            crate::pb::SessionKind::Ssh | crate::pb::SessionKind::Unspecified => RecordingKind::Ssh,
        }
    }
}

/// One recorded session, as the recordings page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    pub id: String,
    pub kind: RecordingKind,
    pub user: String,
    /// The node (or desktop).
    pub target: String,
    pub login: String,
    /// Unix seconds.
    pub started_at: u64,
    /// Unix seconds; `None` while the session runs, or if the proxy stopped during it.
    pub ended_at: Option<u64>,
    /// Bytes in the recording file.
    pub bytes: u64,
    /// How the session ended, in words, for the person.
    pub end_reason: Option<String>,
    /// The proxy stopped during the session (a crash, a kill): the recording plays up to
    /// that moment. (`end_reason` says so in words.)
    #[serde(default)]
    pub cut_short: bool,
    /// The session is running now.
    pub live: bool,
    /// From the start to the last event; given by the single-recording call only.
    pub duration_ms: Option<u64>,
    /// Unix milliseconds of the start, from the recording's header (the offsets of its
    /// events count from here); given by the single-recording call only.
    pub started_at_ms: Option<u64>,
    /// The terminal size the recording started with (cols, rows); single call only.
    pub size: Option<(u32, u32)>,
}

/// `GET /api/v1/recordings`: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingList {
    pub items: Vec<RecordingInfo>,
    /// How many match the filters, over all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// A moment where the searched text was on the screen or went past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub offset_ms: u64,
    /// The line it was found in, for the list of hits.
    pub line: String,
}

/// A moment on a recording's timeline the player marks (`GET /api/v1/recordings/{id}/marks`):
/// `kind` is `"transfer"` (a file moved over SFTP), `"joined"` or `"left"` (someone
/// joined or left the live session); `label` is the sentence its tooltip shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub at_ms: u64,
    pub kind: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    pub marks: Vec<Mark>,
}

/// A desktop recording being made into a video file on the proxy
/// (`/api/v1/recordings/{id}/video`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoExport {
    /// `running`, `done` or `failed`.
    pub state: String,
    /// `webm` or `mp4`.
    pub format: String,
    pub frames_done: u64,
    pub frames_total: u64,
    /// The file's size, once done.
    pub bytes: Option<u64>,
    /// Why it failed, for the person.
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHits {
    pub hits: Vec<SearchHit>,
}

/// A user name and password, checked before a passkey is asked for as the second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordCheck {
    pub username: String,
    pub password: String,
}

/// Options for `navigator.credentials.create`, and the id to answer with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationChallenge {
    pub challenge_id: String,
    pub options: webauthn_rs_proto::CreationChallengeResponse,
}

/// Options for `navigator.credentials.get`, and the id to answer with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionChallenge {
    pub challenge_id: String,
    pub options: webauthn_rs_proto::RequestChallengeResponse,
    /// Only a trusted device's credential can answer (a session check for a node whose
    /// roles say `device_trust = "required"`).
    #[serde(default)]
    pub trusted_device: bool,
}

/// The browser's answer to an [`AssertionChallenge`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyAssertion {
    pub challenge_id: String,
    pub credential: webauthn_rs_proto::PublicKeyCredential,
}

/// The browser's answer to a [`RegistrationChallenge`], with the name the person chose.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewPasskey {
    pub challenge_id: String,
    pub name: String,
    pub credential: webauthn_rs_proto::RegisterPublicKeyCredential,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}

/// `GET /api/v1/account/passkeys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyInfo>,
    /// Whether the account also has an authenticator app (TOTP) as a second factor.
    pub has_totp: bool,
}

/// A passed trusted-device check before a desktop: the socket's one-time ticket
/// (`?check=…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DesktopCheckGrant {
    pub ticket: String,
}

/// A trusted device, as its owner sees it on the account page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: i64,
    pub name: String,
    /// Unix seconds; `None` until the owner enrols it from the link.
    pub enrolled_at: Option<u64>,
    pub last_used_at: Option<u64>,
    /// The attestation statement's format ("packed", "tpm", "none", …).
    pub attestation_format: Option<String>,
    /// The authenticator model the attestation names.
    pub aaguid: Option<String>,
    /// The statement was signed by an attestation certificate.
    pub attestation_certified: bool,
    /// The credential cannot be synced off the authenticator (its backup-eligible flag
    /// is clear).
    pub hardware_bound: bool,
}

/// `GET /api/v1/account/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

/// The token of a device enrolment link (`/device#token=…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceToken {
    pub token: String,
}

/// What the enrolment page shows before the owner enrols: the device's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceEnrolment {
    pub name: String,
    pub challenge_id: String,
    pub options: webauthn_rs_proto::CreationChallengeResponse,
}

/// The new credential for the device the link names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceEnrolmentFinish {
    pub token: String,
    pub challenge_id: String,
    pub credential: webauthn_rs_proto::RegisterPublicKeyCredential,
}

/// Finishing an invite with a passkey instead of an authenticator app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitePasskey {
    pub token: String,
    pub password: String,
    pub passkey: NewPasskey,
}

/// Asks for a passkey check before an SSH session on a node whose roles require one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionMfaStart {
    pub node: String,
    pub login: String,
}

/// The passkey's answer, and the browser's SSH public key to certify for this session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionMfaFinish {
    pub challenge_id: String,
    pub credential: webauthn_rs_proto::PublicKeyCredential,
    /// OpenSSH form: `ssh-ed25519 AAAA…`.
    pub public_key: String,
    pub node: String,
    pub login: String,
}

/// What a passed session check gives: a certificate that lasts only for the connection
/// to start, and a one-time ticket the SSH WebSocket takes (`?mfa=…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionMfaGrant {
    pub certificate: String,
    pub ticket: String,
    /// Unix seconds: the ticket ends then (the certificate lasts about a minute).
    pub expires_at: u64,
    /// As in [`SshCertificate`]: what a browser with no pin yet pins.
    pub host_ca_fingerprint: String,
    /// As in [`SshCertificate`].
    #[serde(default)]
    pub file_transfer: String,
}

/// The close codes of the SSH and desktop WebSockets (4000–4999 are the application's
/// own); the reason beside each code is a sentence for the person.
pub mod close {
    pub const NOT_SIGNED_IN: u16 = 4401;
    pub const DENIED: u16 = 4403;
    pub const NO_SUCH_NODE: u16 = 4404;
    pub const BAD_FRAME: u16 = 4400;
    /// The proxy cannot record a session that must be recorded.
    pub const NOT_AVAILABLE: u16 = 4501;
    pub const NODE_UNREACHABLE: u16 = 4502;
    /// The roles ask for a passkey check before this session: do it, then reconnect.
    pub const MFA_REQUIRED: u16 = 4428;
    /// An admin's lock stops it.
    pub const LOCKED: u16 = 4423;
    /// The user already has as many sessions open as allowed.
    pub const TOO_MANY: u16 = 4429;
    /// The session was ended from outside: sign-out, expiry, a reset, a role taken
    /// away, a lock, a full disk. The reason says which.
    pub const ENDED: u16 = 4410;
}

/// A role the signed-in person may ask for (`GET /api/v1/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestableRole {
    pub role: String,
    /// The longest a request may ask for, in seconds.
    pub max_duration_secs: u64,
    /// How many reviewers must approve.
    pub approvals: u32,
}

/// One reviewer's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReview {
    pub reviewer: String,
    pub approve: bool,
    pub comment: String,
    pub at: u64,
}

/// An access request as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestInfo {
    pub id: i64,
    pub user: String,
    pub role: String,
    pub reason: String,
    pub duration_secs: u64,
    pub created_at: u64,
    /// `pending`, `active`, `expired`, `denied` or `revoked`.
    pub status: String,
    pub approvals: u32,
    pub approvals_needed: u32,
    /// When the role stops being held (approved requests only).
    pub expires_at: Option<u64>,
    pub reviews: Vec<AccessReview>,
    /// Who revoked it, and why.
    pub revoked_by: Option<String>,
    pub revoke_comment: Option<String>,
    /// The signed-in person may approve or deny it now.
    pub can_review: bool,
    /// The signed-in person may revoke it now.
    pub can_revoke: bool,
}

/// `GET /api/v1/requests`: what the person may ask for, their own requests, and the
/// requests they review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequests {
    pub requestable: Vec<RequestableRole>,
    /// Their own, newest first.
    pub mine: Vec<AccessRequestInfo>,
    /// Every request for a role they review (their own included, which they cannot
    /// review), newest first.
    pub to_review: Vec<AccessRequestInfo>,
    /// How many of `to_review` wait for their review (the header's badge).
    pub pending_reviews: usize,
    /// They review at least one role.
    pub reviewer: bool,
}

/// `POST /api/v1/requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAccessRequest {
    pub role: String,
    pub reason: String,
    pub duration_secs: u64,
}

/// `POST /api/v1/requests/{id}/review`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewAccessRequest {
    pub approve: bool,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/requests/{id}/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeAccessRequest {
    #[serde(default)]
    pub comment: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_kind_is_written_as_the_names_the_api_always_used() {
        for (kind, json) in [(RecordingKind::Ssh, "\"ssh\""), (RecordingKind::Desktop, "\"desktop\"")] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), json);
            assert_eq!(serde_json::from_str::<RecordingKind>(json).unwrap(), kind);
            assert_eq!(RecordingKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(RecordingKind::from_name("vnc"), None);
        assert!(serde_json::from_str::<RecordingKind>("\"Desktop\"").is_err());
        assert_eq!(RecordingKind::from(crate::pb::SessionKind::Desktop), RecordingKind::Desktop);
        assert_eq!(RecordingKind::from(crate::pb::SessionKind::Unspecified), RecordingKind::Ssh);
    }
}

/// A single sign-on connector, as the sign-in page shows it. `GET /api/v1/sso`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConnector {
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConnectors {
    pub connectors: Vec<SsoConnector>,
}

/// Where to send the browser to sign in at the provider. `POST /api/v1/sso/{name}/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoStart {
    pub url: String,
}

/// What the provider sent back to `/sso/callback`, posted by the page to
/// `POST /api/v1/sso/finish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoCallback {
    /// The connector whose callback path (`/sso/callback/{name}`) the browser came back to.
    pub connector: String,
    pub state: String,
    /// The provider's name for itself, when it says (RFC 9207).
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// How a single sign-on goes on once the provider has proved who someone is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum SsoFinish {
    /// Signed in (the session cookie is set).
    SignedIn { session: SessionInfo },
    /// One of the account's passkeys must answer this, at `POST /api/v1/sso/passkey/finish`.
    Passkey { challenge: AssertionChallenge },
    /// The account has no passkey yet and needs one: create it with this challenge and
    /// send it with `token` to `POST /api/v1/sso/enrol/finish`.
    Enrol { token: String, challenge: RegistrationChallenge },
}

/// The first passkey of an account that signed in through a provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoEnrol {
    pub token: String,
    pub passkey: NewPasskey,
}

/// Someone in a live session besides its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveParticipant {
    pub user: String,
    /// `"observer"` or `"peer"`.
    pub mode: String,
    /// They hold a role the session needs as moderator.
    pub moderator: bool,
}

/// A live SSH session the asking person may see (`GET /api/v1/live`): their own, one they
/// were invited to, one they moderate, or any (for auditors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveShared {
    pub id: String,
    pub owner: String,
    pub node: String,
    pub login: String,
    /// Unix seconds.
    pub started_at: u64,
    /// `"waiting"` (for a moderator), `"running"`, `"paused"` (no moderator in it),
    /// `"ended"`.
    pub state: String,
    /// The roles whose holders moderate it; empty: it needs no moderator.
    pub moderators: Vec<String>,
    pub participants: Vec<LiveParticipant>,
    pub invited_users: Vec<String>,
    pub invited_roles: Vec<String>,
    /// It is the asking person's own session.
    pub mine: bool,
    /// For the owner only: the name their page gave its tab (`?tab=` on the SSH socket).
    #[serde(default)]
    pub tab: Option<String>,
    /// How the asking person may join it (`"observer"`, `"peer"`); empty: not at all.
    pub may_join: Vec<String>,
    /// The asking person moderates it, and so may end it.
    pub moderator: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSessions {
    pub sessions: Vec<LiveShared>,
}

/// `POST /api/v1/live/{id}/invite`: who else may join (names and roles, each as their
/// own roles allow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveInvite {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}
