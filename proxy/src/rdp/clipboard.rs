//! Text clipboard for desktops, at the proxy: IronRDP's CLIPRDR channel with a backend
//! that only notes what happened. The desktop session's loop reads the notes after each
//! PDU and answers (IronRDP's callbacks cannot send), so all clipboard traffic goes
//! through the same place as everything else. Text only (CF_UNICODETEXT); files and
//! images are not offered or taken.

use std::sync::{Arc, Mutex};

use ironrdp_cliprdr::backend::CliprdrBackend;
use ironrdp_cliprdr::pdu::{
    ClipboardFormat, ClipboardFormatId, ClipboardGeneralCapabilityFlags, FileContentsRequest, FileContentsResponse,
    FormatDataRequest, FormatDataResponse, LockDataId,
};

/// The most text carried either way (a clipboard bigger than this is dropped, not cut).
pub const MAX_TEXT: usize = 1 << 20;

/// What the desktop's clipboard channel asked for or told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The channel is up, or the desktop asks which formats we hold: announce ours.
    Announce,
    /// The desktop's clipboard changed; `true` if it holds text.
    RemoteCopy(bool),
    /// The desktop wants our clipboard's content in this format.
    Wanted(u32),
    /// The desktop's text arrived (`None`: it said it could not give it).
    Text(Option<String>),
}

#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<Mutex<Vec<Note>>>);

impl Notes {
    pub fn push(&self, note: Note) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(note);
    }

    pub fn take(&self) -> Vec<Note> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[derive(Debug)]
pub struct Backend {
    notes: Notes,
}

impl Backend {
    pub fn new(notes: Notes) -> Backend {
        Backend { notes }
    }
}

ironrdp_core::impl_as_any!(Backend);

impl CliprdrBackend for Backend {
    fn temporary_directory(&self) -> &str {
        // File transfer is not offered; the path is never used.
        ".gatehouse-clipboard"
    }

    fn client_capabilities(&self) -> ClipboardGeneralCapabilityFlags {
        ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
    }

    fn on_ready(&mut self) {
        self.notes.push(Note::Announce);
    }

    fn on_request_format_list(&mut self) {
        self.notes.push(Note::Announce);
    }

    fn on_process_negotiated_capabilities(&mut self, _capabilities: ClipboardGeneralCapabilityFlags) {}

    fn on_remote_copy(&mut self, available_formats: &[ClipboardFormat]) {
        let text = available_formats.iter().any(|f| f.id == ClipboardFormatId::CF_UNICODETEXT);
        self.notes.push(Note::RemoteCopy(text));
    }

    fn on_format_data_request(&mut self, request: FormatDataRequest) {
        self.notes.push(Note::Wanted(request.format.0));
    }

    fn on_format_data_response(&mut self, response: FormatDataResponse<'_>) {
        let text = if response.is_error() || response.data().len() > MAX_TEXT * 2 {
            None
        } else {
            response.to_unicode_string().ok()
        };
        self.notes.push(Note::Text(text));
    }

    fn on_file_contents_request(&mut self, _request: FileContentsRequest) {}

    fn on_file_contents_response(&mut self, _response: FileContentsResponse<'_>) {}

    fn on_lock(&mut self, _data_id: LockDataId) {}

    fn on_unlock(&mut self, _data_id: LockDataId) {}
}

/// The formats we announce: text when the browser gave us some, else nothing.
pub fn formats(text: Option<&str>) -> Vec<ClipboardFormat> {
    if text.is_some() { vec![ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)] } else { Vec::new() }
}

/// The answer to the desktop asking for our clipboard in `format`.
pub fn answer(format: u32, text: Option<&str>) -> FormatDataResponse<'static> {
    match text {
        Some(text) if format == ClipboardFormatId::CF_UNICODETEXT.0 => FormatDataResponse::new_unicode_string(text),
        _ => FormatDataResponse::new_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_announced_only_when_there_is_some() {
        assert!(formats(None).is_empty());
        assert_eq!(formats(Some("x")), vec![ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)]);
    }

    #[test]
    fn the_desktop_gets_our_text_as_utf16_and_nothing_else() {
        let answer_text = answer(ClipboardFormatId::CF_UNICODETEXT.0, Some("grüße"));
        assert!(!answer_text.is_error());
        assert_eq!(answer_text.to_unicode_string().unwrap(), "grüße");
        assert!(answer(1, Some("grüße")).is_error(), "plain CF_TEXT is not offered");
        assert!(answer(ClipboardFormatId::CF_UNICODETEXT.0, None).is_error());
    }

    #[test]
    fn the_backend_notes_what_the_desktop_did() {
        let notes = Notes::default();
        let mut backend = Backend::new(notes.clone());
        backend.on_ready();
        backend.on_remote_copy(&[
            ClipboardFormat::new(ClipboardFormatId(1)),
            ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT),
        ]);
        backend.on_remote_copy(&[ClipboardFormat::new(ClipboardFormatId(2))]);
        backend.on_format_data_request(FormatDataRequest { format: ClipboardFormatId::CF_UNICODETEXT });
        backend.on_format_data_response(FormatDataResponse::new_unicode_string("hi"));
        backend.on_format_data_response(FormatDataResponse::new_error());
        assert_eq!(
            notes.take(),
            vec![
                Note::Announce,
                Note::RemoteCopy(true),
                Note::RemoteCopy(false),
                Note::Wanted(13),
                Note::Text(Some("hi".into())),
                Note::Text(None)
            ]
        );
        assert!(notes.take().is_empty());
    }
}
