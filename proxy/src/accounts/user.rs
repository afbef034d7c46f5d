//! A person with an account, and the invite that lets them enrol.

pub type UserId = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub roles: Vec<String>,
    /// argon2id PHC string; `None` until the invite has been accepted.
    pub password_hash: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
    /// The last TOTP step used, so a code cannot be replayed.
    pub totp_last_step: Option<u64>,
}

impl User {
    /// Enrolment sets the password together with a second factor (TOTP or a passkey).
    pub fn is_enrolled(&self) -> bool {
        self.password_hash.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    pub user_id: UserId,
    pub expires_at: u64,
    /// The TOTP secret shown on the invite page, kept until the invite is accepted.
    pub pending_totp_secret: Option<Vec<u8>>,
}
