//! What a decision leaves behind for the next step of the same connection: the one-time
//! ticket a passed passkey check gives the SSH socket, and the direct-mode certificates
//! issued lately (the socket answers for each of their logins).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// A passed passkey check for one SSH session: who, where, as whom, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaTicket {
    pub user: String,
    pub node: String,
    pub login: String,
    pub expires_at: u64,
}

/// A direct-mode certificate the proxy signed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Certified {
    user: String,
    node: String,
    login: String,
    valid_until: u64,
}

#[derive(Default)]
pub struct Passes {
    tickets: Mutex<HashMap<String, MfaTicket>>,
    certified: Mutex<Vec<Certified>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Passes {
    /// Keeps `ticket` under `token` (a random secret the browser holds) until it is
    /// taken or expires.
    pub fn issue_ticket(&self, token: String, ticket: MfaTicket, now: u64) {
        let mut tickets = locked(&self.tickets);
        tickets.retain(|_, t| t.expires_at >= now);
        tickets.insert(token, ticket);
    }

    /// The ticket under `token`, which leaves the table whatever it says: one use.
    pub fn take_ticket(&self, token: &str) -> Option<MfaTicket> {
        locked(&self.tickets).remove(token)
    }

    /// Notes a direct-mode certificate, so a socket to that node answers for its login.
    pub fn note_certified(&self, user: &str, node: &str, login: &str, valid_until: u64, now: u64) {
        let mut certified = locked(&self.certified);
        certified.retain(|c| c.valid_until >= now);
        let (user, node, login) = (user.to_string(), node.to_string(), login.to_string());
        certified.push(Certified { user, node, login, valid_until });
    }

    /// Logins `user` was certified for on `node` whose certificates still open it.
    pub fn certified_logins(&self, user: &str, node: &str, now: u64) -> Vec<String> {
        let certified = locked(&self.certified);
        certified
            .iter()
            .filter(|c| c.user == user && c.node == node && c.valid_until >= now)
            .map(|c| c.login.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(expires_at: u64) -> MfaTicket {
        MfaTicket { user: "ana".into(), node: "web-1".into(), login: "ops".into(), expires_at }
    }

    #[test]
    fn a_ticket_is_taken_once() {
        let passes = Passes::default();
        passes.issue_ticket("t".into(), ticket(200), 100);
        assert_eq!(passes.take_ticket("t"), Some(ticket(200)));
        assert_eq!(passes.take_ticket("t"), None);
    }

    #[test]
    fn expired_tickets_are_dropped_when_the_next_is_issued() {
        let passes = Passes::default();
        passes.issue_ticket("old".into(), ticket(150), 100);
        passes.issue_ticket("new".into(), ticket(400), 300);
        assert_eq!(passes.take_ticket("old"), None);
        assert!(passes.take_ticket("new").is_some());
    }

    #[test]
    fn certified_logins_last_as_long_as_their_certificate() {
        let passes = Passes::default();
        passes.note_certified("ana", "web-1", "ops", 160, 100);
        passes.note_certified("ana", "web-1", "deploy", 200, 100);
        passes.note_certified("bo", "web-1", "root", 200, 100);
        assert_eq!(passes.certified_logins("ana", "web-1", 150), ["ops", "deploy"]);
        assert_eq!(passes.certified_logins("ana", "web-1", 170), ["deploy"]);
        assert!(passes.certified_logins("ana", "web-2", 150).is_empty());
    }
}
