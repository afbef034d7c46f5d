//! Live sessions others may join: each recorded SSH session on this proxy is listed here
//! while it runs, with who is in it, who was invited, its moderation
//! ([`crate::ssh::moderation`]) and a terminal model of its screen.
//!
//! The bridge ([`crate::ssh::bridge`]) hands every byte the node sends to
//! [`SharedSession::output`], which feeds the screen and offers the bytes to each
//! participant's bounded queue without waiting: the owner is never slowed by a
//! participant. A participant whose queue is full is marked behind, gets nothing more,
//! and once its socket has caught up is sent the current screen instead of what it
//! missed. A participant joining late gets the current screen first the same way.
//!
//! What a peer types comes back through [`SharedSession::peer_input`], which drops it
//! unless the participant is a peer and the session is running: an observer's keys are
//! refused here, at the proxy, whatever their page sends.
//!
//! A session lives on the proxy that runs it; this registry is in memory, so a join
//! that reaches another proxy of a cluster finds no such session and says so.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use gatehouse_proto::pb::{RecordingEvent, RecordingHeader};
use gatehouse_recording::keyframes::TerminalKeyframes;
use tokio::sync::{mpsc, watch};

use super::Ender;
use crate::access::join::Invites;
use crate::access::rbac::JoinMode;
use crate::recordings::Recorder;
use crate::ssh::moderation::{Moderation, State};

/// Chunks of output a participant may have waiting before it is marked behind.
const QUEUE: usize = 256;
/// Typed chunks from peers waiting for the node.
const INPUT_QUEUE: usize = 256;

/// Every joinable session on this proxy, by id.
#[derive(Default)]
pub struct SharedSessions {
    sessions: Mutex<HashMap<String, Arc<SharedSession>>>,
}

impl SharedSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SharedSession>>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lists `session` until the returned guard is dropped; the receiver carries what
    /// peers type, for the bridge.
    pub fn list(self: &Arc<Self>, opened: Opened) -> (Listed, mpsc::Receiver<PeerInput>) {
        let (input, typed) = mpsc::channel(INPUT_QUEUE);
        let (closed, _) = watch::channel(None);
        let (changed, _) = watch::channel(0);
        let header = RecordingHeader { cols: 80, rows: 24, ..RecordingHeader::default() };
        let session = Arc::new(SharedSession {
            id: crate::recordings::archive::new_id(),
            inner: Mutex::new(Inner {
                screen: TerminalKeyframes::new(&header),
                participants: BTreeMap::new(),
                moderation: Moderation::new(!opened.moderators.is_empty()),
                recorder: None,
                next: 1,
                ever_joined: false,
                told: None,
            }),
            invites: Mutex::new(Invites::default()),
            opened,
            input,
            closed,
            changed,
        });
        self.lock().insert(session.id.clone(), session.clone());
        (Listed { registry: self.clone(), session }, typed)
    }

    pub fn get(&self, id: &str) -> Option<Arc<SharedSession>> {
        self.lock().get(id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<SharedSession>> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| a.opened.started_at.cmp(&b.opened.started_at).then(a.id.cmp(&b.id)));
        all
    }
}

/// What is known of a session when it opens.
pub struct Opened {
    pub owner: String,
    pub node: String,
    pub login: String,
    /// The page's own name for its tab, so the owner's page finds its session.
    pub tab: Option<String>,
    /// Unix seconds.
    pub started_at: u64,
    /// The roles whose holders moderate it; empty: it needs no moderator.
    pub moderators: Vec<String>,
    /// Ends the owner's session (a moderator ended it, or none came back in time).
    pub end: Ender,
}

/// The session's place in the registry; dropping it unlists the session and ends every
/// participant's socket with the session's end.
pub struct Listed {
    registry: Arc<SharedSessions>,
    pub session: Arc<SharedSession>,
}

impl Listed {
    /// Unlists the session; participants' sockets close with `reason`.
    pub fn close(&self, reason: &str) {
        self.session.closed.send_if_modified(|closed| {
            if closed.is_some() {
                return false;
            }
            *closed = Some(reason.to_string());
            true
        });
        self.registry.lock().remove(&self.session.id);
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.close("The session ended.");
    }
}

/// Something a peer typed, for the bridge to send to the node and record.
pub struct PeerInput {
    pub user: String,
    pub data: Bytes,
}

pub struct Participant {
    pub user: String,
    pub mode: JoinMode,
    pub moderator: bool,
    queue: mpsc::Sender<Bytes>,
    /// Its queue was full: it gets no output until it has been resynchronised.
    behind: bool,
}

struct Inner {
    screen: TerminalKeyframes,
    participants: BTreeMap<u64, Participant>,
    moderation: Moderation,
    recorder: Option<Recorder>,
    next: u64,
    /// Someone has joined since the session opened: input is recorded with who typed it.
    ever_joined: bool,
    /// The state the owner was last told about when their input was held.
    told: Option<&'static str>,
}

pub struct SharedSession {
    pub id: String,
    pub opened: Opened,
    invites: Mutex<Invites>,
    inner: Mutex<Inner>,
    input: mpsc::Sender<PeerInput>,
    /// `Some(reason)` once the session has ended.
    closed: watch::Sender<Option<String>>,
    /// Bumped whenever who is in it, or its state, changes.
    changed: watch::Sender<u64>,
}

/// One participant's view of who is in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: String,
    pub mode: JoinMode,
    pub moderator: bool,
}

/// A participant's end of the session: its queue of output, and its id to leave with.
pub struct Joined {
    pub id: u64,
    pub output: mpsc::Receiver<Bytes>,
    /// The screen as it was when they joined (sent before anything from `output`).
    pub screen: Vec<u8>,
    pub closed: watch::Receiver<Option<String>>,
    pub changed: watch::Receiver<u64>,
}

impl SharedSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn invites(&self) -> Invites {
        self.invites.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Adds people and roles to the invites (an invite is never taken back while the
    /// session runs: the sweep judges participants against the invites they joined by).
    pub fn invite(&self, users: &[String], roles: &[String]) {
        let mut invites = self.invites.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        invites.users.extend(users.iter().cloned());
        invites.roles.extend(roles.iter().cloned());
        drop(invites);
        self.bump();
    }

    pub fn members(&self) -> Vec<Member> {
        self.lock()
            .participants
            .values()
            .map(|p| Member { user: p.user.clone(), mode: p.mode, moderator: p.moderator })
            .collect()
    }

    pub fn state(&self) -> State {
        self.lock().moderation.state().clone()
    }

    pub fn ended(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// The recording once the session's program started: joins from then on are
    /// recorded, and those already in are recorded as joining now.
    pub async fn recording_started(&self, recorder: Recorder) {
        let members = {
            let mut inner = self.lock();
            inner.recorder = Some(recorder.clone());
            inner.participants.values().map(|p| (p.user.clone(), p.mode, p.moderator)).collect::<Vec<_>>()
        };
        for (user, mode, moderator) in members {
            recorder.participant(&user, mode, true, moderator).await;
        }
    }

    /// The terminal's size changed.
    pub fn resize(&self, cols: u32, rows: u32) {
        let event = RecordingEvent {
            offset_ms: 0,
            event: Some(gatehouse_proto::pb::recording_event::Event::Resize(gatehouse_proto::pb::Resize {
                cols,
                rows,
            })),
        };
        self.lock().screen.follow(&event);
    }

    /// Output from the node: onto the screen, and offered to every participant.
    pub fn output(&self, data: &[u8]) {
        let event = RecordingEvent {
            offset_ms: 0,
            event: Some(gatehouse_proto::pb::recording_event::Event::Output(gatehouse_proto::pb::Output {
                data: data.to_vec(),
            })),
        };
        let mut inner = self.lock();
        inner.screen.follow(&event);
        if inner.participants.is_empty() {
            return;
        }
        let chunk = Bytes::copy_from_slice(data);
        for participant in inner.participants.values_mut().filter(|p| !p.behind) {
            if let Err(mpsc::error::TrySendError::Full(_)) = participant.queue.try_send(chunk.clone()) {
                participant.behind = true;
            }
        }
    }

    /// Adds a participant; what they are sent starts with the current screen.
    pub fn join(&self, user: &str, mode: JoinMode, moderator: bool) -> Joined {
        let (queue, output) = mpsc::channel(QUEUE);
        let (id, screen) = {
            let mut inner = self.lock();
            let id = inner.next;
            inner.next += 1;
            inner.ever_joined = true;
            inner.moderation.joined(id, moderator);
            inner
                .participants
                .insert(id, Participant { user: user.to_string(), mode, moderator, queue, behind: false });
            (id, inner.screen.take().0)
        };
        self.bump();
        Joined { id, output, screen, closed: self.closed.subscribe(), changed: self.changed.subscribe() }
    }

    /// The participant left at `now` (ms).
    pub fn leave(&self, id: u64, now_ms: u64) -> Option<Participant> {
        let left = {
            let mut inner = self.lock();
            inner.moderation.left(id, now_ms);
            inner.participants.remove(&id)
        };
        self.bump();
        left
    }

    pub fn recorder(&self) -> Option<Recorder> {
        self.lock().recorder.clone()
    }

    /// For a participant marked behind: what it had queued is dropped and the current
    /// screen returned, to send before anything queued from now on.
    pub fn catch_up(&self, id: u64, output: &mut mpsc::Receiver<Bytes>) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        let behind = inner.participants.get(&id).is_some_and(|p| p.behind);
        if !behind {
            return None;
        }
        while output.try_recv().is_ok() {}
        if let Some(p) = inner.participants.get_mut(&id) {
            p.behind = false;
        }
        // Home and clear first: the screen state draws over what the page shows.
        let mut screen = b"\x1b[H\x1b[2J".to_vec();
        screen.extend_from_slice(&inner.screen.take().0);
        Some(screen)
    }

    /// Something participant `id` typed: queued for the node if they are a peer and the
    /// session is running; otherwise the sentence of why it was dropped.
    pub fn peer_input(&self, id: u64, data: Bytes) -> Result<(), &'static str> {
        let inner = self.lock();
        let Some(participant) = inner.participants.get(&id) else { return Err("not in the session") };
        if participant.mode != JoinMode::Peer {
            return Err("an observer's input");
        }
        if !inner.moderation.input_open() {
            return Err("input while no moderator is in the session");
        }
        let user = participant.user.clone();
        drop(inner);
        self.input.try_send(PeerInput { user, data }).map_err(|_| "input faster than the node takes it")
    }

    /// Whether anything but a shell's start may reach the node now (a command, a signal,
    /// an end of input): only while the session runs.
    pub fn input_open(&self) -> bool {
        self.lock().moderation.input_open()
    }

    /// Whether the owner's input may reach the node now. When it may not, `Some` the
    /// first time since the state changed: the sentence to show the owner.
    pub fn owner_input(&self) -> Result<(), Option<String>> {
        let mut inner = self.lock();
        if inner.moderation.input_open() {
            inner.told = None;
            return Ok(());
        }
        let state = inner.moderation.state().as_str();
        if inner.told == Some(state) {
            return Err(None);
        }
        inner.told = Some(state);
        let roles = self.opened.moderators.join(" or ");
        Err(Some(match state {
            "waiting" => format!(
                "\r\n[Gatehouse] This session needs a moderator ({roles}) before it starts; what you type is held back until one joins.\r\n"
            ),
            "paused" => format!(
                "\r\n[Gatehouse] The moderator left, so this session is paused and what you type is held back until a moderator ({roles}) joins again.\r\n"
            ),
            _ => "\r\n[Gatehouse] This session has ended.\r\n".to_string(),
        }))
    }

    /// Who typed, for the recording: `Some(name)` once anyone has joined the session.
    pub fn typist(&self, user: &str) -> Option<String> {
        self.lock().ever_joined.then(|| user.to_string())
    }

    /// A moderator ends the session; the owner's session ends with the sentence.
    pub fn end_by(&self, moderator: &str) -> String {
        let reason = self.lock().moderation.end_by(moderator);
        self.opened.end.end(reason.clone());
        self.bump();
        reason
    }

    /// Steps the moderation's clock: `Some(sentence)` once, when the session was paused
    /// for `grace_ms` and so ends (the owner's session is ended with it).
    fn tick(&self, now_ms: u64, grace_ms: u64) -> Option<String> {
        let reason = self.lock().moderation.tick(now_ms, grace_ms)?;
        self.opened.end.end(reason.clone());
        self.bump();
        Some(reason)
    }
}

/// Steps a moderated session's clock every quarter second until it is gone; `ended` is
/// told once, if no moderator came back within `grace_ms`.
pub async fn watch_moderation(session: Weak<SharedSession>, grace_ms: u64, ended: impl Fn(&SharedSession, &str)) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        let Some(session) = session.upgrade() else { return };
        if session.ended().is_some() {
            return;
        }
        if let Some(reason) = session.tick(crate::auth::now_ms(), grace_ms) {
            ended(&session, &reason);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{Kind, Live, LiveSession};

    fn opened(live: &Arc<Live>, moderators: &[&str]) -> (Opened, super::super::Registration) {
        let owner = LiveSession {
            kind: Kind::Ssh,
            user: "olive".into(),
            web_session: "h".into(),
            web_session_expires: u64::MAX,
            target: "web-1".into(),
            logins: vec!["root".into()],
            ssh: None,
            recorded: true,
            device: None,
            join: None,
        };
        let registration = live.register(owner, 10).unwrap();
        let opened = Opened {
            owner: "olive".into(),
            node: "web-1".into(),
            login: "root".into(),
            tab: None,
            started_at: 0,
            moderators: moderators.iter().map(|s| s.to_string()).collect(),
            end: registration.ender(),
        };
        (opened, registration)
    }

    #[test]
    fn a_late_joiner_gets_the_current_screen_first() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, _owner) = opened(&live, &[]);
        let (listed, _typed) = registry.list(opened);
        listed.session.output(b"$ echo before\r\nbefore\r\n$ ");
        let mut joined = listed.session.join("wes", JoinMode::Observer, false);
        let mut screen = gatehouse_terminal::Terminal::new(24, 80, 0);
        screen.feed(&joined.screen);
        assert!(screen.screen().contents().contains("before"), "{:?}", screen.screen().contents());
        listed.session.output(b"after");
        assert_eq!(joined.output.try_recv().unwrap(), Bytes::from_static(b"after"));
    }

    #[test]
    fn a_participant_that_falls_behind_is_resynchronised_and_the_owner_never_waits() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, _owner) = opened(&live, &[]);
        let (listed, _typed) = registry.list(opened);
        let mut slow = listed.session.join("wes", JoinMode::Observer, false);
        for n in 0..QUEUE + 50 {
            listed.session.output(format!("line {n}\r\n").as_bytes());
        }
        let screen = listed.session.catch_up(slow.id, &mut slow.output).unwrap();
        assert!(String::from_utf8_lossy(&screen).contains(&format!("line {}", QUEUE + 49)));
        assert!(slow.output.try_recv().is_err(), "what it missed was dropped");
        assert_eq!(listed.session.catch_up(slow.id, &mut slow.output), None, "caught up");
        listed.session.output(b"next");
        assert_eq!(slow.output.try_recv().unwrap(), Bytes::from_static(b"next"));
    }

    #[test]
    fn an_observers_input_is_dropped_at_the_proxy() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, _owner) = opened(&live, &[]);
        let (listed, mut typed) = registry.list(opened);
        let observer = listed.session.join("wes", JoinMode::Observer, false);
        let peer = listed.session.join("pia", JoinMode::Peer, false);
        assert_eq!(
            listed.session.peer_input(observer.id, Bytes::from_static(b"rm -rf /\r")),
            Err("an observer's input")
        );
        listed.session.peer_input(peer.id, Bytes::from_static(b"ls\r")).unwrap();
        let got = typed.try_recv().unwrap();
        assert_eq!((got.user.as_str(), &got.data[..]), ("pia", &b"ls\r"[..]));
        assert!(typed.try_recv().is_err(), "nothing of the observer's");
    }

    #[tokio::test]
    async fn a_moderated_session_holds_everyones_input_until_a_moderator_joins_and_a_moderator_ends_it() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, owner) = opened(&live, &["auditor"]);
        let (listed, _typed) = registry.list(opened);
        let session = &listed.session;
        assert!(matches!(session.owner_input(), Err(Some(s)) if s.contains("needs a moderator (auditor)")));
        assert_eq!(session.owner_input(), Err(None), "told once");
        let peer = session.join("pia", JoinMode::Peer, false);
        assert!(session.peer_input(peer.id, Bytes::from_static(b"x")).is_err(), "a peer is no moderator");
        let moderator = session.join("ada", JoinMode::Observer, true);
        assert_eq!(session.owner_input(), Ok(()));
        assert_eq!(session.typist("olive").as_deref(), Some("olive"));
        session.leave(moderator.id, 1_000);
        assert!(matches!(session.owner_input(), Err(Some(s)) if s.contains("paused")));
        let again = session.join("ada", JoinMode::Observer, true);
        assert_eq!(session.owner_input(), Ok(()));
        assert_eq!(session.end_by("ada"), "ada, a moderator, ended this session.");
        assert_eq!(owner.wait_ended().await, "ada, a moderator, ended this session.");
        drop(again);
    }

    #[tokio::test]
    async fn a_pause_longer_than_the_grace_time_ends_the_owners_session() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, owner) = opened(&live, &["auditor"]);
        let (listed, _typed) = registry.list(opened);
        let moderator = listed.session.join("ada", JoinMode::Observer, true);
        listed.session.leave(moderator.id, 1_000);
        assert_eq!(listed.session.tick(1_500, 1_000), None);
        assert!(listed.session.tick(2_000, 1_000).unwrap().contains("No moderator"));
        assert!(owner.wait_ended().await.contains("No moderator"));
    }

    #[test]
    fn closing_unlists_the_session_and_tells_participants() {
        let live = Arc::new(Live::default());
        let registry = Arc::new(SharedSessions::default());
        let (opened, _owner) = opened(&live, &[]);
        let (listed, _typed) = registry.list(opened);
        let joined = listed.session.join("wes", JoinMode::Observer, false);
        let id = listed.session.id.clone();
        assert!(registry.get(&id).is_some());
        listed.close("olive closed the session");
        assert!(registry.get(&id).is_none());
        assert_eq!(joined.closed.borrow().as_deref(), Some("olive closed the session"));
    }
}
