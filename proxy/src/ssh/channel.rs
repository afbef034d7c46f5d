//! A recorded session channel's decisions, without I/O: which of the browser's
//! requests reach the node, which are refused (and audited), when the recording starts,
//! whether input is recorded, and which of the node's replies the browser gets. The
//! bridge ([`super::bridge`]) carries the bytes and asks this at every step.
//!
//! Replies: every request the proxy forwards asks the node for a reply (so the proxy
//! knows whether a pty was granted), and the node answers in order. The ledger of owed
//! replies pairs each answer with its request; the browser gets the answers it asked for.

use std::collections::VecDeque;

/// What the client may send before its program starts, recorded once it does.
pub const MAX_EARLY_INPUT: usize = 1 << 20;

/// The terminal the browser asked for before the program started (the recording's
/// header needs it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pty {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
}

/// A reply the node owes for a request the proxy forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    /// The browser asked for the reply.
    wanted: bool,
    /// It is the answer to a pty request.
    pty: bool,
}

/// What becomes of bytes the browser typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Forwarded only: the node echoes what it needs to (a pty), so the output shows it.
    Forward,
    /// Recorded as input, then forwarded (no pty: nothing else would show it).
    RecordAndForward,
    /// Kept to be recorded when the program starts, and forwarded.
    HoldAndForward,
}

/// A request the browser makes on the session channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Pty(Pty),
    Shell,
    Exec(String),
    Env,
    Subsystem(String),
    X11,
    AgentForward,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it to the node (asking for its reply).
    Forward,
    /// Start the recording with this command line (empty for a shell), then call
    /// [`RecordedChannel::program_started`], then forward.
    Start(String),
    /// Refuse it: a failure to the browser if it asked, and audited with the sentence if
    /// there is one.
    Refuse { audit: Option<String> },
    /// Audit it, answer nothing (russh has answered already), send nothing.
    Drop { audit: String },
    /// A file-transfer server as the program: refused with a sentence the client shows.
    RefuseFileTransfer(&'static str),
}

/// One recorded session channel.
#[derive(Debug, Default)]
pub struct RecordedChannel {
    owed: VecDeque<Owed>,
    pty: Pty,
    /// The node gave the channel a pty.
    has_pty: bool,
    early_input: Vec<u8>,
    /// The program runs (and its recording with it).
    started: bool,
    exit_status: Option<u32>,
}

impl RecordedChannel {
    /// `len` bytes the browser typed; why the session must end, if it must.
    pub fn input(&mut self, data: &[u8]) -> Result<Input, &'static str> {
        match (self.started, self.has_pty) {
            (_, true) => Ok(Input::Forward),
            (true, false) => Ok(Input::RecordAndForward),
            (false, false) if self.early_input.len() + data.len() <= MAX_EARLY_INPUT => {
                self.early_input.extend_from_slice(data);
                Ok(Input::HoldAndForward)
            }
            (false, false) => Err("too much input before a program started"),
        }
    }

    /// A request from the browser, with whether it wants a reply.
    pub fn request(&mut self, request: Request, want_reply: bool) -> Verdict {
        match request {
            // A pty once the program runs would only switch input recording off (OpenSSH
            // refuses it then anyway).
            Request::Pty(_) if self.started => {
                Verdict::Refuse { audit: Some("a pty asked for after the program started".into()) }
            }
            Request::Pty(pty) => {
                self.pty = pty;
                self.owe(want_reply, true);
                Verdict::Forward
            }
            // One program per session channel, as OpenSSH: a second would split the recording.
            Request::Shell | Request::Exec(_) if self.started => Verdict::Refuse { audit: None },
            Request::Shell => Verdict::Start(String::new()),
            Request::Exec(command) => match file_transfer_command(&command) {
                Some(what) => Verdict::RefuseFileTransfer(what),
                None => Verdict::Start(command),
            },
            Request::Env => {
                self.owe(want_reply, false);
                Verdict::Forward
            }
            // Subsystems (sftp), X11 and agent forwarding are not offered on the session
            // channel; a role's file transfer has a channel of its own (`super::sftp_bridge`),
            // inspected packet by packet. A file-transfer server run as the program stays
            // refused even then: it would carry files past the inspector.
            Request::Subsystem(name) => {
                Verdict::Refuse { audit: Some(format!("the subsystem {name:?} in a recorded session")) }
            }
            Request::X11 => Verdict::Refuse { audit: Some("X11 forwarding in a recorded session".into()) },
            Request::AgentForward => Verdict::Drop { audit: "agent forwarding in a recorded session".into() },
        }
    }

    /// The recording started: the program's request is now owed a reply, and what was
    /// typed before it is returned, to be recorded first.
    pub fn program_started(&mut self, want_reply: bool) -> Vec<u8> {
        self.started = true;
        self.owe(want_reply, false);
        std::mem::take(&mut self.early_input)
    }

    /// The browser's terminal changed size: `true` if the recording should note it
    /// (before the program starts, the header takes the new size instead).
    pub fn resize(&mut self, cols: u32, rows: u32) -> bool {
        if !self.started {
            self.pty.cols = cols;
            self.pty.rows = rows;
        }
        self.started
    }

    /// The node answered the oldest owed request: the answer to pass to the browser, if
    /// it asked for one.
    pub fn reply(&mut self, success: bool) -> Option<bool> {
        let owed = self.owed.pop_front()?;
        if success && owed.pty {
            self.has_pty = true;
        }
        owed.wanted.then_some(success)
    }

    pub fn exited(&mut self, status: u32) {
        self.exit_status = Some(status);
    }

    pub fn exit_status(&self) -> Option<u32> {
        self.exit_status
    }

    /// Why the session ended when the node closed the channel.
    pub fn node_closed(&self) -> &'static str {
        if self.exit_status.is_some() { "exit" } else { "the node closed the session" }
    }

    pub fn pty(&self) -> &Pty {
        &self.pty
    }

    fn owe(&mut self, wanted: bool, pty: bool) {
        self.owed.push_back(Owed { wanted, pty });
    }
}

/// Why a command must not run as a recorded session's program: it is a file-transfer
/// server (SFTP's, or scp's sink or source), whose traffic is files, not a session a
/// person can replay. `None` for anything else. (A program that speaks SFTP under
/// another name is still recorded byte for byte: without a pty, input is recorded.)
pub fn file_transfer_command(command: &str) -> Option<&'static str> {
    // Quotes and backslashes join or hide nothing from the shell: `s'f'tp-server` is
    // sftp-server to it, so it is to this too.
    let unquoted: String = command.chars().filter(|c| !"'\"\\".contains(*c)).collect();
    let words: Vec<&str> =
        unquoted.split(|c: char| c.is_whitespace() || ";|&()`$<>".contains(c)).filter(|w| !w.is_empty()).collect();
    let base = |word: &str| word.rsplit('/').next().unwrap_or(word).to_string();
    for (i, word) in words.iter().enumerate() {
        match base(word).as_str() {
            "sftp-server" | "internal-sftp" => return Some("an SFTP server"),
            "scp" => {
                let flags = words[i + 1..].iter().take_while(|w| w.starts_with('-'));
                if flags.clone().any(|f| f.trim_start_matches('-').contains(['t', 'f'])) {
                    return Some("scp's file transfer");
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pty() -> Request {
        Request::Pty(Pty { term: "xterm-256color".into(), cols: 120, rows: 40 })
    }

    #[test]
    fn replies_go_back_in_order_and_only_where_asked() {
        let mut channel = RecordedChannel::default();
        assert_eq!(channel.request(Request::Env, false), Verdict::Forward);
        assert_eq!(channel.request(pty(), true), Verdict::Forward);
        assert_eq!(channel.request(Request::Shell, true), Verdict::Start(String::new()));
        assert!(channel.program_started(true).is_empty());
        // The env answer was not asked for; the pty's and the shell's were.
        assert_eq!(channel.reply(false), None);
        assert_eq!(channel.reply(true), Some(true));
        assert_eq!(channel.reply(true), Some(true));
        // A reply nobody is owed (a confused node) is dropped.
        assert_eq!(channel.reply(true), None);
    }

    #[test]
    fn input_is_recorded_unless_the_node_granted_a_pty() {
        let mut refused = RecordedChannel::default();
        refused.request(pty(), true);
        assert_eq!(refused.input(b"early"), Ok(Input::HoldAndForward));
        assert_eq!(refused.reply(false), Some(false), "the node refused the pty");
        assert_eq!(refused.request(Request::Shell, false), Verdict::Start(String::new()));
        assert_eq!(refused.program_started(false), b"early", "held input is recorded first");
        assert_eq!(refused.input(b"ls\n"), Ok(Input::RecordAndForward));

        let mut granted = RecordedChannel::default();
        granted.request(pty(), true);
        granted.reply(true);
        assert_eq!(granted.input(b"ls\n"), Ok(Input::Forward));
    }

    #[test]
    fn too_much_input_before_the_program_ends_the_session() {
        let mut channel = RecordedChannel::default();
        assert_eq!(channel.input(&vec![0; MAX_EARLY_INPUT]), Ok(Input::HoldAndForward));
        assert_eq!(channel.input(b"x"), Err("too much input before a program started"));
    }

    #[test]
    fn one_program_per_channel_and_no_pty_after_it() {
        let mut channel = RecordedChannel::default();
        assert_eq!(channel.request(Request::Exec("uptime".into()), true), Verdict::Start("uptime".into()));
        channel.program_started(true);
        assert_eq!(channel.request(Request::Shell, true), Verdict::Refuse { audit: None });
        assert_eq!(channel.request(Request::Exec("id".into()), false), Verdict::Refuse { audit: None });
        assert!(matches!(channel.request(pty(), true), Verdict::Refuse { audit: Some(why) } if why.contains("after")));
        assert_eq!(channel.reply(true), Some(true), "only the program's reply was owed");
        assert_eq!(channel.reply(true), None);
    }

    #[test]
    fn file_transfer_and_forwarding_are_refused() {
        let mut channel = RecordedChannel::default();
        assert_eq!(
            channel.request(Request::Exec("scp -t /tmp".into()), true),
            Verdict::RefuseFileTransfer("scp's file transfer")
        );
        assert!(matches!(
            channel.request(Request::Subsystem("sftp".into()), true),
            Verdict::Refuse { audit: Some(why) } if why.contains("\"sftp\"")
        ));
        assert!(matches!(channel.request(Request::X11, true), Verdict::Refuse { audit: Some(_) }));
        assert!(matches!(channel.request(Request::AgentForward, false), Verdict::Drop { .. }));
        assert_eq!(channel.reply(true), None, "nothing refused was forwarded, so nothing is owed");
    }

    #[test]
    fn the_size_before_the_program_goes_in_the_header_after_it_in_the_recording() {
        let mut channel = RecordedChannel::default();
        channel.request(pty(), false);
        assert!(!channel.resize(100, 30));
        assert_eq!(channel.pty(), &Pty { term: "xterm-256color".into(), cols: 100, rows: 30 });
        channel.request(Request::Shell, false);
        channel.program_started(false);
        assert!(channel.resize(90, 20));
        assert_eq!((channel.pty().cols, channel.pty().rows), (100, 30));
    }

    #[test]
    fn how_the_node_ended_it() {
        let mut channel = RecordedChannel::default();
        assert_eq!(channel.node_closed(), "the node closed the session");
        channel.exited(3);
        assert_eq!((channel.node_closed(), channel.exit_status()), ("exit", Some(3)));
    }

    #[test]
    fn file_transfer_servers_are_told_from_commands() {
        for command in [
            "/usr/lib/openssh/sftp-server",
            "exec /usr/lib/openssh/sftp-server -e",
            "sh -c '/usr/libexec/sftp-server'",
            "internal-sftp",
            "scp -t /tmp",
            "scp -p -f /etc/passwd",
            "true; scp -pt .",
            "s'f'tp-server",
            "/usr/lib/openssh/sftp\\-server",
            "sc''p -t /tmp",
        ] {
            assert!(file_transfer_command(command).is_some(), "{command}");
        }
        for command in ["bash", "echo sftp", "ls /usr/lib/openssh", "scp", "man scp", "cat sftp-server.log"] {
            assert_eq!(file_transfer_command(command), None, "{command}");
        }
    }
}
