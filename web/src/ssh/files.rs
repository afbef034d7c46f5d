//! Files on the node over SFTP: a second session channel of the tab's own SSH
//! connection, asking for the `sftp` subsystem, spoken by `russh-sftp`. In direct mode
//! this runs end to end to the node's sftp-server; in recorded mode the proxy's bridge
//! sees each packet, refuses what the roles do not allow and audits each transfer.
//!
//! Uploads go to a temporary name beside the target and are renamed only once every
//! byte is acknowledged, so a cut transfer never leaves a partial file under the final
//! name (the temporary one is removed when the connection still allows it).

use std::sync::Arc;

use russh::client::{self, Handler};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::fs::File;
use russh_sftp::protocol::StatusCode;

/// What the roles let this session move, as the proxy said with the certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowed {
    pub download: bool,
    pub upload: bool,
}

impl Allowed {
    /// The proxy's word (`none`, `download`, `upload`, `both`); anything else is none.
    pub fn parse(word: &str) -> Allowed {
        match word {
            "download" => Allowed { download: true, upload: false },
            "upload" => Allowed { download: false, upload: true },
            "both" => Allowed { download: true, upload: true },
            _ => Allowed::default(),
        }
    }

    pub fn any(self) -> bool {
        self.download || self.upload
    }
}

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub dir: bool,
    pub size: u64,
    /// Unix seconds.
    pub modified: u32,
}

/// The open SFTP session of a tab, with where it starts.
#[derive(Clone)]
pub struct Remote {
    sftp: Arc<SftpSession>,
    /// The login's home (the server's `.`), absolute.
    pub home: String,
    pub allowed: Allowed,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("home", &self.home).field("allowed", &self.allowed).finish()
    }
}

/// The suffix of an upload's temporary name (`.NAME.gatehouse-part`).
pub const PART_SUFFIX: &str = ".gatehouse-part";

impl Remote {
    /// Opens the SFTP channel beside the shell.
    pub async fn open<H: Handler>(handle: &client::Handle<H>, allowed: Allowed) -> Result<Remote, String> {
        let channel = handle
            .channel_open_session()
            .await
            .map_err(|err| format!("The node would not open a channel for files: {err}."))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|err| format!("The node would not start its SFTP server: {err}."))?;
        let sftp = SftpSession::new(channel.into_stream()).await.map_err(|err| {
            format!(
                "The node's SFTP server did not answer: {err}. File transfer may be off on this node or for your role."
            )
        })?;
        // Big files over a slow link: a request may wait behind many others.
        sftp.set_timeout(60);
        let home = sftp.canonicalize(".").await.map_err(|err| sentence(&err, "find your home folder"))?;
        Ok(Remote { sftp: Arc::new(sftp), home, allowed })
    }

    /// The folder's entries, folders first then by name (`.` and `..` left out).
    pub async fn list(&self, dir: &str) -> Result<Vec<Entry>, String> {
        let listing = self.sftp.read_dir(dir).await.map_err(|err| sentence(&err, &format!("list {dir}")))?;
        let mut entries: Vec<Entry> = listing
            .filter(|e| e.file_name() != "." && e.file_name() != "..")
            .map(|e| {
                let meta = e.metadata();
                Entry { name: e.file_name(), dir: meta.is_dir(), size: meta.len(), modified: meta.mtime.unwrap_or(0) }
            })
            .collect();
        entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    pub async fn mkdir(&self, path: &str) -> Result<(), String> {
        self.sftp.create_dir(path).await.map_err(|err| sentence(&err, &format!("create the folder {path}")))
    }

    /// Creates `path` unless it is a folder already (folder uploads).
    pub async fn ensure_dir(&self, path: &str) -> Result<(), String> {
        match self.sftp.metadata(path).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            _ => self.mkdir(path).await,
        }
    }

    pub async fn rename(&self, from: &str, to: &str) -> Result<(), String> {
        self.sftp.rename(from, to).await.map_err(|err| sentence(&err, &format!("rename {from}")))
    }

    pub async fn remove(&self, path: &str, dir: bool) -> Result<(), String> {
        let done = if dir { self.sftp.remove_dir(path).await } else { self.sftp.remove_file(path).await };
        done.map_err(|err| sentence(&err, &format!("delete {path}")))
    }

    /// A new file at the upload's temporary name beside `target`: (that name, the file).
    pub async fn create_part(&self, target: &str) -> Result<(String, File), String> {
        let (dir, name) = split(target);
        let part = join(dir, &format!(".{name}{PART_SUFFIX}"));
        let file = self.sftp.create(part.as_str()).await.map_err(|err| sentence(&err, &format!("write to {dir}")))?;
        Ok((part, file))
    }

    /// Puts a finished upload under its final name, replacing a file already there
    /// (SFTP version 3's rename will not replace, so that one is removed first).
    pub async fn finish_upload(&self, part: &str, target: &str) -> Result<(), String> {
        if let Ok(meta) = self.sftp.metadata(target).await {
            if meta.is_dir() {
                return Err(format!("{target} is a folder; the upload was not put there."));
            }
            self.remove(target, false).await?;
        }
        self.rename(part, target).await
    }

    /// Best effort: removes an upload's temporary file after a failure or a cancel.
    pub async fn discard(&self, part: &str) {
        let _ = self.sftp.remove_file(part).await;
    }

    pub async fn open_read(&self, path: &str) -> Result<(File, u64), String> {
        let file = self.sftp.open(path).await.map_err(|err| sentence(&err, &format!("read {path}")))?;
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        Ok((file, size))
    }
}

/// What went wrong, as a sentence: `doing` is what was being done ("read /etc/shadow").
pub fn sentence(err: &SftpError, doing: &str) -> String {
    match err {
        SftpError::Status(status) => {
            let said = status.error_message.trim();
            match status.status_code {
                // The proxy's own refusals (recorded mode) are full sentences already.
                StatusCode::PermissionDenied if said.ends_with('.') && said.contains(' ') => said.to_string(),
                StatusCode::PermissionDenied => format!("Permission denied: the node does not let you {doing}."),
                StatusCode::NoSuchFile => format!("Could not {doing}: there is no such file or folder."),
                StatusCode::Failure
                    if said.to_lowercase().contains("space") || said.to_lowercase().contains("quota") =>
                {
                    format!("Could not {doing}: the node's disk is full ({said}).")
                }
                _ => format!("Could not {doing}: the node said {said:?}."),
            }
        }
        SftpError::Timeout | SftpError::IO(_) | SftpError::UnexpectedBehavior(_) => {
            format!("Could not {doing}: the connection to the node was lost ({err}).")
        }
        _ => format!("Could not {doing}: {err}."),
    }
}

/// `dir/name`, for POSIX paths.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") }
}

/// The folder above `path` (`/` stays `/`).
pub fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    }
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", path),
    }
}

/// A name typed or dropped for a file in the current folder: one path component.
pub fn plain_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("{name:?} is not a file name: a name has no slash and is not . or .."));
    }
    Ok(name)
}
