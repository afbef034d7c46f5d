//! The SFTP inspector of a recorded session, without I/O: the bridge feeds it the bytes
//! of the `sftp` subsystem channel in both directions, and it frames them into packets
//! (each length bounded), decides per request whether the role's
//! [`FileTransfer`] allows it, answers a refused request itself with a permission-denied
//! status whose message is a sentence the Files panel shows, and hashes each file's
//! bytes as they pass, emitting a [`Transfer`] when the file's handle is closed.
//!
//! Only the leading fields each decision needs are read (request id, handle, path,
//! flags, offset, data), by hand: packets are forwarded as they came, so decoding whole
//! packets into `russh-sftp`'s types (and copying every WRITE's data) would buy nothing.
//!
//! Hashes: a file's SHA-256 covers the bytes in order. Writes at the next offset, and
//! replies to reads at the next offset, extend it; anything else (a seek, a retried
//! short read, replies out of order) leaves the transfer without a hash, and the record
//! says so, rather than claiming a hash of bytes that are not the file.
//!
//! Paths are not policed: the role says which directions are allowed, and the node's
//! own permissions decide which paths the login may touch. Paths are audited as sent.

use std::collections::HashMap;

use crate::access::rbac::FileTransfer;

/// The largest packet either side may send: russh-sftp and OpenSSH's sftp-server use
/// 256 KiB (OpenSSH's own limit), plus room for a header.
pub const MAX_PACKET: usize = 256 * 1024 + 1024;
/// Requests without their answer yet, and files open at once.
const MAX_PENDING: usize = 4096;
const MAX_HANDLES: usize = 1024;

const INIT: u8 = 1;
const VERSION: u8 = 2;
const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const READ: u8 = 5;
const WRITE: u8 = 6;
const LSTAT: u8 = 7;
const FSTAT: u8 = 8;
const SETSTAT: u8 = 9;
const FSETSTAT: u8 = 10;
const OPENDIR: u8 = 11;
const READDIR: u8 = 12;
const REMOVE: u8 = 13;
const MKDIR: u8 = 14;
const RMDIR: u8 = 15;
const REALPATH: u8 = 16;
const STAT: u8 = 17;
const RENAME: u8 = 18;
const READLINK: u8 = 19;
const SYMLINK: u8 = 20;
const STATUS: u8 = 101;
const HANDLE: u8 = 102;
const DATA: u8 = 103;
const EXTENDED: u8 = 200;

const FXF_READ: u32 = 0x01;
const FXF_WRITE: u32 = 0x02;
const FX_PERMISSION_DENIED: u32 = 3;

/// Why the channel must close: the peer broke the protocol in a way that cannot be
/// inspected safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("an SFTP packet of {0} bytes (more than the {MAX_PACKET} allowed)")]
    TooLong(usize),
    #[error("an empty SFTP packet")]
    Empty,
    #[error("a malformed SFTP packet (type {0})")]
    Malformed(u8),
    #[error("too many SFTP requests in flight or files open")]
    TooMany,
    #[error("an SFTP request id used again before its answer")]
    ReusedId(u32),
    #[error("the node speaks SFTP version {0}; only version 3 is understood")]
    Version(u32),
}

/// Which way a file's bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the node to the browser.
    Download,
    /// From the browser to the node.
    Upload,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

/// One file transferred, reported when its handle closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub path: String,
    pub direction: Direction,
    pub bytes: u64,
    /// Hex SHA-256 of the bytes, `None` when they did not pass in order.
    pub sha256: Option<String>,
}

/// Something to write to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request the role does not allow, refused by the proxy (never sent to the node).
    Refused {
        what: String,
    },
    /// A change to the node's files that is not a transfer: mkdir, rename, remove…
    Changed {
        what: String,
    },
    Transferred(Transfer),
}

/// What the bytes from the browser became.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FromClient {
    /// To forward to the node.
    pub to_node: Vec<u8>,
    /// The proxy's own answers (refusals), to send back to the browser.
    pub to_client: Vec<u8>,
    pub events: Vec<Event>,
}

/// Whether the file channel starts the subsystem `name`: only `sftp`, only once. Every
/// other request on that channel (a shell, a command, a pty, another subsystem) is
/// refused by the bridge, so the channel never carries anything but inspected SFTP.
pub fn file_channel_starts(name: &str, started: bool) -> bool {
    name == "sftp" && !started
}

/// Splits a byte stream into SFTP packets (`length`, then that many bytes).
#[derive(Debug, Default)]
struct Framer {
    buffer: Vec<u8>,
}

impl Framer {
    /// Adds bytes; returns the complete packets (without their length), in order.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Violation> {
        self.buffer.extend_from_slice(bytes);
        let mut packets = Vec::new();
        let mut at = 0;
        while self.buffer.len() - at >= 4 {
            let head: [u8; 4] = self.buffer[at..at + 4].try_into().map_err(|_| Violation::Empty)?;
            let len = u32::from_be_bytes(head) as usize;
            if len == 0 {
                return Err(Violation::Empty);
            }
            if len > MAX_PACKET {
                return Err(Violation::TooLong(len));
            }
            if self.buffer.len() - at - 4 < len {
                break;
            }
            packets.push(self.buffer[at + 4..at + 4 + len].to_vec());
            at += 4 + len;
        }
        self.buffer.drain(..at);
        Ok(packets)
    }
}

/// Reads the fields of one packet after its type byte.
struct Fields<'a> {
    rest: &'a [u8],
    kind: u8,
}

impl<'a> Fields<'a> {
    fn u32(&mut self) -> Result<u32, Violation> {
        let (head, rest) = self.rest.split_first_chunk::<4>().ok_or(Violation::Malformed(self.kind))?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn u64(&mut self) -> Result<u64, Violation> {
        let (head, rest) = self.rest.split_first_chunk::<8>().ok_or(Violation::Malformed(self.kind))?;
        self.rest = rest;
        Ok(u64::from_be_bytes(*head))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Violation> {
        let len = self.u32()? as usize;
        if self.rest.len() < len {
            return Err(Violation::Malformed(self.kind));
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(value)
    }

    fn text(&mut self) -> Result<String, Violation> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
}

/// A request the node has not answered yet, and what its answer means to us.
#[derive(Debug)]
enum Pending {
    /// An OPEN: its HANDLE answer names a file open for `direction`.
    Open { path: String, direction: Direction },
    /// A READ of a file: its DATA answer carries the file's bytes at `offset`.
    Read { handle: Vec<u8>, offset: u64 },
    /// A CLOSE of a file we track.
    Close { handle: Vec<u8> },
}

/// A file open through a handle the node gave.
struct Open {
    path: String,
    direction: Direction,
    hash: Option<ring::digest::Context>,
    next: u64,
    bytes: u64,
}

/// One SFTP channel's inspector.
pub struct Inspector {
    allowed: FileTransfer,
    from_client: Framer,
    from_node: Framer,
    pending: HashMap<u32, Pending>,
    files: HashMap<Vec<u8>, Open>,
}

/// The sentence for a refusal, shown in the Files panel.
fn refusal(allowed: FileTransfer, what: &str) -> String {
    match allowed {
        FileTransfer::Download => {
            format!("Gatehouse refused to {what}: your roles allow downloads only from this node.")
        }
        FileTransfer::Upload => format!("Gatehouse refused to {what}: your roles allow uploads only to this node."),
        FileTransfer::None | FileTransfer::Both => format!("Gatehouse refused to {what}: your roles do not allow it."),
    }
}

/// `SSH_FXP_STATUS` permission denied for request `id`, with `message`.
fn denied(id: u32, message: &str) -> Vec<u8> {
    let mut body = vec![STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&FX_PERMISSION_DENIED.to_be_bytes());
    for text in [message, "en"] {
        body.extend_from_slice(&(text.len() as u32).to_be_bytes());
        body.extend_from_slice(text.as_bytes());
    }
    let mut packet = (body.len() as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

fn framed(packet: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(packet.len() as u32).to_be_bytes());
    out.extend_from_slice(packet);
}

/// What a request needs the role to allow.
enum Need {
    Nothing,
    Download,
    Upload,
    /// Never allowed (an unknown or a server-side copy extension).
    Never,
}

impl Inspector {
    pub fn new(allowed: FileTransfer) -> Inspector {
        Inspector {
            allowed,
            from_client: Framer::default(),
            from_node: Framer::default(),
            pending: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// Bytes the browser sent on the channel.
    pub fn from_client(&mut self, bytes: &[u8]) -> Result<FromClient, Violation> {
        let mut out = FromClient::default();
        for packet in self.from_client.push(bytes)? {
            self.client_packet(&packet, &mut out)?;
        }
        Ok(out)
    }

    /// Bytes the node sent on the channel: forwarded unchanged (the caller forwards
    /// `bytes` itself); the transfers finished by them are returned.
    pub fn from_node(&mut self, bytes: &[u8]) -> Result<Vec<Event>, Violation> {
        let mut events = Vec::new();
        for packet in self.from_node.push(bytes)? {
            self.node_packet(&packet, &mut events)?;
        }
        Ok(events)
    }

    /// The channel ended: files still open are reported as they stand (a transfer cut
    /// short is still a transfer).
    pub fn finish(&mut self) -> Vec<Event> {
        let files = std::mem::take(&mut self.files);
        files.into_values().filter(|f| f.bytes > 0).map(|f| Event::Transferred(transfer(f))).collect()
    }

    fn client_packet(&mut self, packet: &[u8], out: &mut FromClient) -> Result<(), Violation> {
        let (&kind, rest) = packet.split_first().ok_or(Violation::Empty)?;
        let mut f = Fields { rest, kind };
        if kind == INIT {
            framed(packet, &mut out.to_node);
            return Ok(());
        }
        let id = f.u32()?;
        let (need, what, pending) = match kind {
            OPEN => {
                let path = f.text()?;
                let flags = f.u32()?;
                if flags & FXF_WRITE != 0 {
                    let what = format!("write {path}");
                    let need =
                        if flags & FXF_READ != 0 && !self.allowed.download() { Need::Never } else { Need::Upload };
                    (need, what, Some(Pending::Open { path, direction: Direction::Upload }))
                } else if flags != FXF_READ {
                    // Creating or truncating without writing: OpenSSH opens such a file
                    // read-only, so it would be a read that changes the file. No client
                    // needs it.
                    (Need::Never, format!("open {path} with flags {flags:#x}"), None)
                } else {
                    (
                        Need::Download,
                        format!("read {path}"),
                        Some(Pending::Open { path, direction: Direction::Download }),
                    )
                }
            }
            // Only from a handle the inspector saw opened for reading, and to one opened
            // for writing: a handle it does not know is refused.
            READ => {
                let handle = f.bytes()?.to_vec();
                let offset = f.u64()?;
                if self.files.get(&handle).is_some_and(|file| file.direction == Direction::Download) {
                    (Need::Nothing, String::new(), Some(Pending::Read { handle, offset }))
                } else {
                    (Need::Never, "read from a file not opened for reading".to_string(), None)
                }
            }
            WRITE => {
                let handle = f.bytes()?;
                let offset = f.u64()?;
                let data = f.bytes()?;
                match self.files.get_mut(handle) {
                    Some(file) if file.direction == Direction::Upload => {
                        extend(file, offset, data);
                        (Need::Nothing, String::new(), None)
                    }
                    _ => (Need::Never, "write to a file not opened for writing".to_string(), None),
                }
            }
            CLOSE => {
                let handle = f.bytes()?.to_vec();
                (Need::Nothing, String::new(), Some(Pending::Close { handle }))
            }
            OPENDIR | READDIR | LSTAT | FSTAT | STAT | REALPATH | READLINK => (Need::Nothing, String::new(), None),
            SETSTAT => (Need::Upload, format!("change the attributes of {}", f.text()?), None),
            FSETSTAT => (Need::Upload, "change a file's attributes".to_string(), None),
            REMOVE => (Need::Upload, format!("delete {}", f.text()?), None),
            MKDIR => (Need::Upload, format!("create the folder {}", f.text()?), None),
            RMDIR => (Need::Upload, format!("delete the folder {}", f.text()?), None),
            RENAME => {
                let from = f.text()?;
                (Need::Upload, format!("rename {from} to {}", f.text()?), None)
            }
            SYMLINK => {
                let link = f.text()?;
                (Need::Upload, format!("make the link {link} to {}", f.text()?), None)
            }
            EXTENDED => {
                let name = f.text()?;
                let need = match name.as_str() {
                    "limits@openssh.com"
                    | "statvfs@openssh.com"
                    | "fstatvfs@openssh.com"
                    | "expand-path@openssh.com"
                    | "home-directory"
                    | "users-groups-by-id@openssh.com" => Need::Nothing,
                    "posix-rename@openssh.com"
                    | "hardlink@openssh.com"
                    | "fsync@openssh.com"
                    | "lsetstat@openssh.com" => Need::Upload,
                    _ => Need::Never,
                };
                let what = match name.as_str() {
                    "posix-rename@openssh.com" | "hardlink@openssh.com" => {
                        let from = f.text()?;
                        format!("{name} {from} to {}", f.text()?)
                    }
                    _ => format!("use the SFTP extension {name:?}"),
                };
                (need, what, None)
            }
            // Anything else (SFTP versions above 3 are not negotiated): refused.
            _ => (Need::Never, format!("send SFTP request type {kind}"), None),
        };
        let allowed = match need {
            Need::Nothing => true,
            Need::Download => self.allowed.download(),
            Need::Upload => self.allowed.upload(),
            Need::Never => false,
        };
        if !allowed {
            out.to_client.extend(denied(id, &refusal(self.allowed, &what)));
            out.events.push(Event::Refused { what });
            return Ok(());
        }
        if let Some(pending) = pending {
            if self.pending.len() >= MAX_PENDING {
                return Err(Violation::TooMany);
            }
            // An id in use would pair the node's answer with the wrong request (an open
            // never tracked, a read never counted).
            if self.pending.contains_key(&id) {
                return Err(Violation::ReusedId(id));
            }
            self.pending.insert(id, pending);
        }
        if !what.is_empty() && !matches!(kind, OPEN) {
            out.events.push(Event::Changed { what });
        }
        framed(packet, &mut out.to_node);
        Ok(())
    }

    fn node_packet(&mut self, packet: &[u8], events: &mut Vec<Event>) -> Result<(), Violation> {
        let (&kind, rest) = packet.split_first().ok_or(Violation::Empty)?;
        let mut f = Fields { rest, kind };
        if kind == VERSION {
            // Later versions lay OPEN out otherwise: what this reads as a read could
            // create or truncate.
            let version = f.u32()?;
            return if version == 3 { Ok(()) } else { Err(Violation::Version(version)) };
        }
        let id = f.u32()?;
        let Some(pending) = self.pending.remove(&id) else { return Ok(()) };
        match (pending, kind) {
            (Pending::Open { path, direction }, HANDLE) => {
                if self.files.len() >= MAX_HANDLES {
                    return Err(Violation::TooMany);
                }
                let handle = f.bytes()?.to_vec();
                let hash = Some(ring::digest::Context::new(&ring::digest::SHA256));
                self.files.insert(handle, Open { path, direction, hash, next: 0, bytes: 0 });
            }
            (Pending::Read { handle, offset }, DATA) => {
                let data = f.bytes()?;
                if let Some(file) = self.files.get_mut(&handle)
                    && file.direction == Direction::Download
                {
                    extend(file, offset, data);
                }
            }
            (Pending::Close { handle }, _) => {
                if let Some(file) = self.files.remove(&handle)
                    && (file.bytes > 0 || file.direction == Direction::Upload)
                {
                    events.push(Event::Transferred(transfer(file)));
                }
            }
            // A failed open, a read at the end (EOF status) or a refused write.
            _ => {}
        }
        Ok(())
    }
}

fn extend(file: &mut Open, offset: u64, data: &[u8]) {
    if offset == file.next {
        if let Some(hash) = file.hash.as_mut() {
            hash.update(data);
        }
        file.next += data.len() as u64;
    } else {
        // Out of order: no honest hash any more.
        file.hash = None;
        file.next = file.next.max(offset + data.len() as u64);
    }
    file.bytes += data.len() as u64;
}

fn transfer(file: Open) -> Transfer {
    let sha256 = file.hash.map(|h| h.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect());
    Transfer { path: file.path, direction: file.direction, bytes: file.bytes, sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }

    /// A framed packet: type, id, then the fields.
    fn packet(kind: u8, id: u32, fields: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(&id.to_be_bytes());
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    fn s(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, text.as_bytes());
        out
    }

    fn open(id: u32, path: &str, flags: u32) -> Vec<u8> {
        packet(OPEN, id, &[&s(path), &flags.to_be_bytes(), &0u32.to_be_bytes()])
    }

    fn handle(id: u32, h: &str) -> Vec<u8> {
        packet(HANDLE, id, &[&s(h)])
    }

    fn status_ok(id: u32) -> Vec<u8> {
        packet(STATUS, id, &[&0u32.to_be_bytes(), &s(""), &s("")])
    }

    fn sha(data: &[u8]) -> String {
        ring::digest::digest(&ring::digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The status code and message of the proxy's answer.
    fn refusal_of(out: &FromClient) -> (u32, String) {
        let body = &out.to_client[4..];
        assert_eq!(body[0], STATUS);
        let mut f = Fields { rest: &body[5..], kind: STATUS };
        (f.u32().unwrap(), f.text().unwrap())
    }

    #[test]
    fn a_download_only_role_cannot_write_rename_remove_mkdir_setstat_or_link() {
        let mut sftp = Inspector::new(FileTransfer::Download);
        let attempts = [
            open(1, "/home/dana/new.txt", 0x02 | 0x08),
            open(2, "../../etc/passwd", 0x01 | 0x02),
            packet(RENAME, 3, &[&s("a"), &s("b")]),
            packet(REMOVE, 4, &[&s("a")]),
            packet(MKDIR, 5, &[&s("d"), &0u32.to_be_bytes()]),
            packet(RMDIR, 6, &[&s("d")]),
            packet(SETSTAT, 7, &[&s("a"), &0u32.to_be_bytes()]),
            packet(FSETSTAT, 8, &[&s("h"), &0u32.to_be_bytes()]),
            packet(SYMLINK, 9, &[&s("l"), &s("/etc/shadow")]),
            packet(EXTENDED, 10, &[&s("posix-rename@openssh.com"), &s("a"), &s("b")]),
            packet(EXTENDED, 11, &[&s("copy-data"), &s("h1")]),
        ];
        for (i, attempt) in attempts.iter().enumerate() {
            let out = sftp.from_client(attempt).unwrap();
            assert!(out.to_node.is_empty(), "attempt {i} reached the node");
            let (code, message) = refusal_of(&out);
            assert_eq!(code, FX_PERMISSION_DENIED);
            assert!(message.starts_with("Gatehouse refused to "), "{message}");
            assert!(matches!(&out.events[..], [Event::Refused { .. }]));
        }
        let out = sftp.from_client(&open(12, "/home/dana/notes.txt", FXF_READ)).unwrap();
        assert!(out.to_client.is_empty() && !out.to_node.is_empty(), "reading is allowed");
    }

    #[test]
    fn an_upload_only_role_cannot_read_but_can_list() {
        let mut sftp = Inspector::new(FileTransfer::Upload);
        let out = sftp.from_client(&open(1, "/etc/hostname", FXF_READ)).unwrap();
        assert_eq!(
            refusal_of(&out).1,
            "Gatehouse refused to read /etc/hostname: your roles allow uploads only to this node."
        );
        let out = sftp.from_client(&open(2, "/tmp/x", FXF_READ | 0x02)).unwrap();
        assert!(out.to_node.is_empty(), "read-write needs download too");
        let out = sftp.from_client(&packet(OPENDIR, 3, &[&s("/tmp")])).unwrap();
        assert!(out.to_client.is_empty() && !out.to_node.is_empty());
        // Flags that create, truncate or append without WRITE open the file read-only on
        // OpenSSH: a read in disguise, refused.
        for (id, flags) in [(4, 0x04), (5, 0x08), (6, 0x10), (7, 0x20), (8, 0x08 | 0x10), (9, 0)] {
            let out = sftp.from_client(&open(id, "/etc/shadow", flags)).unwrap();
            assert!(out.to_node.is_empty(), "flags {flags:#x} reached the node");
        }
        // A handle it never saw opened for reading cannot be read from.
        let read = packet(READ, 10, &[&s("h-guessed"), &0u64.to_be_bytes(), &4096u32.to_be_bytes()]);
        assert!(sftp.from_client(&read).unwrap().to_node.is_empty());
        // An upload's handle cannot be read from either.
        sftp.from_client(&open(11, "/tmp/up", FXF_WRITE | 0x08)).unwrap();
        sftp.from_node(&handle(11, "h-up")).unwrap();
        let read = packet(READ, 12, &[&s("h-up"), &0u64.to_be_bytes(), &4096u32.to_be_bytes()]);
        assert!(sftp.from_client(&read).unwrap().to_node.is_empty());
    }

    #[test]
    fn a_download_only_role_cannot_write_to_a_handle_opened_for_reading() {
        let mut sftp = Inspector::new(FileTransfer::Download);
        sftp.from_client(&open(1, "/etc/motd", FXF_READ)).unwrap();
        sftp.from_node(&handle(1, "h-r")).unwrap();
        let write = packet(WRITE, 2, &[&s("h-r"), &0u64.to_be_bytes(), &s("evil")]);
        let out = sftp.from_client(&write).unwrap();
        assert!(out.to_node.is_empty());
    }

    #[test]
    fn a_request_id_in_use_or_another_sftp_version_ends_the_channel() {
        let mut sftp = Inspector::new(FileTransfer::Both);
        sftp.from_client(&open(5, "/etc/secret", FXF_READ)).unwrap();
        assert_eq!(sftp.from_client(&open(5, "/etc/other", FXF_READ)).err(), Some(Violation::ReusedId(5)));
        let mut sftp = Inspector::new(FileTransfer::Download);
        let version = |v: u32| {
            let mut out = 5u32.to_be_bytes().to_vec();
            out.push(VERSION);
            out.extend_from_slice(&v.to_be_bytes());
            out
        };
        assert!(sftp.from_node(&version(3)).is_ok());
        assert_eq!(sftp.from_node(&version(6)).err(), Some(Violation::Version(6)));
    }

    #[test]
    fn the_file_channel_starts_sftp_once_and_no_other_subsystem() {
        assert!(file_channel_starts("sftp", false));
        assert!(!file_channel_starts("sftp", true), "a second start would reset the inspector's framing");
        for other in ["sftp-server", "SFTP", "x11", "", "sftp\0", "/usr/lib/openssh/sftp-server"] {
            assert!(!file_channel_starts(other, false), "{other:?}");
        }
    }

    #[test]
    fn oversized_and_empty_packet_lengths_end_the_channel() {
        let mut sftp = Inspector::new(FileTransfer::Both);
        assert_eq!(sftp.from_client(&u32::MAX.to_be_bytes()), Err(Violation::TooLong(u32::MAX as usize)));
        let mut sftp = Inspector::new(FileTransfer::Both);
        assert_eq!(sftp.from_node(&0u32.to_be_bytes()), Err(Violation::Empty));
        let mut sftp = Inspector::new(FileTransfer::Both);
        assert_eq!(sftp.from_client(&[0, 0, 0, 5, OPEN, 0, 0, 0, 1]), Err(Violation::Malformed(OPEN)));
    }

    #[test]
    fn an_upload_in_order_is_hashed_and_reported_at_close_even_when_split_anywhere() {
        let mut sftp = Inspector::new(FileTransfer::Both);
        let mut stream = open(1, "/tmp/.f.gatehouse-part", 0x02 | 0x08 | 0x10);
        let data = b"hello, node".repeat(1000);
        let (a, b) = data.split_at(4000);
        stream.extend(packet(WRITE, 2, &[&s("h1"), &0u64.to_be_bytes(), &s_bytes(a)]));
        stream.extend(packet(WRITE, 3, &[&s("h1"), &4000u64.to_be_bytes(), &s_bytes(b)]));
        stream.extend(packet(CLOSE, 4, &[&s("h1")]));
        // Split inside the OPEN, then inside the first WRITE; the node's handle arrives
        // once the OPEN has gone to it, before the rest of the writes.
        let first = sftp.from_client(&stream[..7]).unwrap();
        assert!(first.to_node.is_empty(), "no whole packet yet");
        let rest = sftp.from_client(&stream[7..60]).unwrap();
        assert_eq!(rest.to_node, stream[..43], "the OPEN, whole");
        assert_eq!(sftp.from_node(&handle(1, "h1")).unwrap(), vec![]);
        let tail = sftp.from_client(&stream[60..]).unwrap();
        assert_eq!([first.to_node, rest.to_node, tail.to_node].concat(), stream, "forwarded unchanged");
        let events = sftp.from_node(&[status_ok(2), status_ok(3), status_ok(4)].concat()).unwrap();
        assert_eq!(
            events,
            vec![Event::Transferred(Transfer {
                path: "/tmp/.f.gatehouse-part".into(),
                direction: Direction::Upload,
                bytes: data.len() as u64,
                sha256: Some(sha(&data)),
            })]
        );
    }

    #[test]
    fn a_download_is_hashed_from_the_replies_and_out_of_order_bytes_get_no_hash() {
        let mut sftp = Inspector::new(FileTransfer::Download);
        sftp.from_client(&open(1, "/etc/motd", FXF_READ)).unwrap();
        sftp.from_node(&handle(1, "h")).unwrap();
        let read = |id: u32, offset: u64| packet(READ, id, &[&s("h"), &offset.to_be_bytes(), &5u32.to_be_bytes()]);
        sftp.from_client(&[read(2, 0), read(3, 5)].concat()).unwrap();
        sftp.from_node(&[packet(DATA, 2, &[&s("01234")]), packet(DATA, 3, &[&s("56789")])].concat()).unwrap();
        sftp.from_client(&packet(CLOSE, 4, &[&s("h")])).unwrap();
        let events = sftp.from_node(&status_ok(4)).unwrap();
        assert!(
            matches!(&events[..], [Event::Transferred(t)] if t.sha256 == Some(sha(b"0123456789")) && t.bytes == 10)
        );

        sftp.from_client(&open(5, "/etc/issue", FXF_READ)).unwrap();
        sftp.from_node(&handle(5, "g")).unwrap();
        sftp.from_client(&packet(READ, 6, &[&s("g"), &100u64.to_be_bytes(), &5u32.to_be_bytes()])).unwrap();
        sftp.from_node(&packet(DATA, 6, &[&s("later")])).unwrap();
        sftp.from_client(&packet(CLOSE, 7, &[&s("g")])).unwrap();
        let events = sftp.from_node(&status_ok(7)).unwrap();
        assert!(matches!(&events[..], [Event::Transferred(t)] if t.sha256.is_none() && t.bytes == 5));
    }

    #[test]
    fn a_cut_transfer_is_still_reported() {
        let mut sftp = Inspector::new(FileTransfer::Both);
        sftp.from_client(&open(1, "/tmp/.big.gatehouse-part", 0x1a)).unwrap();
        sftp.from_node(&handle(1, "h")).unwrap();
        sftp.from_client(&packet(WRITE, 2, &[&s("h"), &0u64.to_be_bytes(), &s("part")])).unwrap();
        assert!(matches!(&sftp.finish()[..], [Event::Transferred(t)] if t.bytes == 4));
    }

    #[test]
    fn changes_are_audited_and_unknown_requests_refused_even_with_both() {
        let mut sftp = Inspector::new(FileTransfer::Both);
        let out = sftp.from_client(&packet(RENAME, 1, &[&s("/tmp/.a.gatehouse-part"), &s("/tmp/a")])).unwrap();
        assert_eq!(out.events, vec![Event::Changed { what: "rename /tmp/.a.gatehouse-part to /tmp/a".into() }]);
        let out = sftp.from_client(&packet(EXTENDED, 2, &[&s("copy-data")])).unwrap();
        assert!(out.to_node.is_empty() && !out.to_client.is_empty());
        let out = sftp.from_client(&packet(99, 3, &[])).unwrap();
        assert!(out.to_node.is_empty() && !out.to_client.is_empty());
    }

    fn s_bytes(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, data);
        out
    }
}
