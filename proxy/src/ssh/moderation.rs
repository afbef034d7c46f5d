//! A moderated session's state, with no I/O: it waits until a moderator joins, runs
//! while one is in it, is paused (input held) from the moment the last one leaves, and
//! ends once it has been paused for the grace time or a moderator ends it. Time is an
//! argument (milliseconds); the caller reads the clock and steps it.
//!
//! While it is not running, nothing anybody types reaches the node: input is dropped at
//! the proxy (and the owner told), rather than queued to run once a moderator is back
//! and could no longer stop it.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No moderator has joined yet.
    Waiting,
    Running,
    /// The last moderator left at `since`.
    Paused {
        since: u64,
    },
    /// With the sentence everyone reads.
    Ended(String),
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Paused { .. } => "paused",
            State::Ended(_) => "ended",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Moderation {
    state: State,
    /// Whether the session needs a moderator at all; without, it only ever runs or ends.
    required: bool,
    /// The participants in it now who moderate, by participant id.
    present: BTreeSet<u64>,
}

impl Moderation {
    /// A session that needs a moderator (`required`) waits; any other runs.
    pub fn new(required: bool) -> Moderation {
        let state = if required { State::Waiting } else { State::Running };
        Moderation { state, required, present: BTreeSet::new() }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether input may reach the node now.
    pub fn input_open(&self) -> bool {
        self.state == State::Running
    }

    /// A participant joined; a moderator starts (or resumes) the session.
    pub fn joined(&mut self, participant: u64, moderator: bool) {
        if !moderator || !self.required || matches!(self.state, State::Ended(_)) {
            return;
        }
        self.present.insert(participant);
        self.state = State::Running;
    }

    /// A participant left at `now`; the last moderator's leaving pauses the session.
    pub fn left(&mut self, participant: u64, now: u64) {
        if !self.present.remove(&participant) || !self.present.is_empty() {
            return;
        }
        if self.state == State::Running {
            self.state = State::Paused { since: now };
        }
    }

    /// Ends the session (a moderator chose to): `by` names who.
    pub fn end_by(&mut self, by: &str) -> String {
        let reason = format!("{by}, a moderator, ended this session.");
        if !matches!(self.state, State::Ended(_)) {
            self.state = State::Ended(reason.clone());
        }
        reason
    }

    /// Steps the clock to `now`: a session paused for `grace` ms ends, and the sentence
    /// is returned once, when it does.
    pub fn tick(&mut self, now: u64, grace: u64) -> Option<String> {
        match self.state {
            State::Paused { since } if now.saturating_sub(since) >= grace => {
                let reason = format!("No moderator was in this session for {} s, so it was ended.", grace / 1000);
                self.state = State::Ended(reason.clone());
                Some(reason)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderated_session_waits_with_input_held_until_a_moderator_joins() {
        let mut m = Moderation::new(true);
        assert_eq!(m.state(), &State::Waiting);
        assert!(!m.input_open());
        m.joined(1, false);
        assert_eq!(m.state(), &State::Waiting, "an observer who does not moderate starts nothing");
        m.joined(2, true);
        assert_eq!(m.state(), &State::Running);
        assert!(m.input_open());
    }

    #[test]
    fn the_last_moderator_leaving_pauses_it_and_the_grace_time_ends_it() {
        let mut m = Moderation::new(true);
        m.joined(1, true);
        m.joined(2, true);
        m.left(1, 1_000);
        assert_eq!(m.state(), &State::Running, "one moderator is still in it");
        m.left(2, 2_000);
        assert_eq!(m.state(), &State::Paused { since: 2_000 });
        assert!(!m.input_open());
        assert_eq!(m.tick(6_999, 5_000), None);
        let reason = m.tick(7_000, 5_000).unwrap();
        assert_eq!(reason, "No moderator was in this session for 5 s, so it was ended.");
        assert_eq!(m.tick(8_000, 5_000), None, "said once");
        m.joined(3, true);
        assert!(matches!(m.state(), State::Ended(_)), "an ended session stays ended");
    }

    #[test]
    fn a_moderator_back_within_the_grace_time_resumes_it() {
        let mut m = Moderation::new(true);
        m.joined(1, true);
        m.left(1, 0);
        m.joined(4, true);
        assert_eq!(m.state(), &State::Running);
        assert_eq!(m.tick(60_000, 5_000), None);
    }

    #[test]
    fn a_waiting_session_is_not_ended_by_the_grace_time() {
        let mut m = Moderation::new(true);
        assert_eq!(m.tick(u64::MAX, 5_000), None);
        assert_eq!(m.state(), &State::Waiting);
    }

    #[test]
    fn a_session_without_moderators_runs_and_others_leaving_changes_nothing() {
        let mut m = Moderation::new(false);
        assert!(m.input_open());
        m.joined(1, true);
        m.left(1, 0);
        assert!(m.input_open());
        assert_eq!(m.tick(10_000, 5_000), None);
    }

    #[test]
    fn a_moderator_ends_it() {
        let mut m = Moderation::new(true);
        m.joined(1, true);
        assert_eq!(m.end_by("ada"), "ada, a moderator, ended this session.");
        assert!(!m.input_open());
        assert_eq!(m.state().as_str(), "ended");
    }
}
