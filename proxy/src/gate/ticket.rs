//! The one-time ticket a passed passkey or device check gives the SSH socket that asked
//! for it.

/// A passed passkey check for one SSH session: who, where, as whom, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaTicket {
    pub user: String,
    pub node: String,
    pub login: String,
    pub expires_at: u64,
    /// The trusted device whose credential answered the check, if one did.
    pub device: Option<i64>,
}
