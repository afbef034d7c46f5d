//! A desktop session's decisions, without I/O: what to do with each PDU from the
//! desktop and each message from the browser. [`Session::from_desktop`] and
//! [`Session::from_browser`] return [`Output`]s in order; the async shell
//! ([`crate::http::desktops`]) only reads, writes, records and closes.
//!
//! The proxy follows the slow-path (X.224) side of the session itself (server requests,
//! errors, the end, the clipboard channel); fast-path graphics, and slow-path graphics
//! turned into fast-path, go to the browser as they came (and into the recording).

use gatehouse_desktop::input::InputEncoder;
use gatehouse_desktop::slow_path::to_fast_path;
use gatehouse_proto::pb::{DesktopActivated, DesktopClientMessage, desktop_client_message};
use ironrdp_cliprdr::CliprdrClient;
use ironrdp_cliprdr::pdu::ClipboardFormatId;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::Action;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageOutput};
use prost::Message as _;

use super::clipboard::{self, Note, Notes};

/// What the shell does next, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A fast-path update: record it, then send it to the browser.
    Update(Vec<u8>),
    /// Bytes for the desktop.
    ToDesktop(Vec<u8>),
    /// The desktop's clipboard text, for the browser.
    ClipboardToBrowser(String),
    /// Clipboard text crossed, for the audit: which way, how many characters.
    ClipboardAudit { to_desktop: bool, characters: usize },
    /// The desktop's clipboard channel came up (once a session), for the browser.
    ClipboardReady,
    /// The session ends.
    End(End),
}

/// Why a session ends, as the person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The desktop ended or restarted the session, or stopped taking data: a normal
    /// close (1000) with the sentence.
    Desktop(String),
    /// The browser sent what the protocol does not allow: audited, closed as a bad frame.
    BadInput(String),
}

/// One desktop session's state, from activation to the end.
pub struct Session {
    stage: ActiveStage,
    input: InputEncoder,
    activated: DesktopActivated,
    /// The slow-path decoder's image (slow-path graphics are forwarded, not drawn here).
    image: DecodedImage,
    /// What the clipboard channel noted while a PDU was processed.
    notes: Notes,
    /// The browser's clipboard text, once it gave us some.
    browser_text: Option<String>,
    /// The browser has been told the clipboard channel is up.
    clipboard_ready: bool,
}

impl Session {
    /// `stage` is IronRDP's active stage for the connection; `notes` the clipboard
    /// backend's (empty when the desktop has no clipboard channel).
    pub fn new(stage: ActiveStage, activated: DesktopActivated, notes: Notes) -> Session {
        let size = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        let input = InputEncoder::new(
            size(activated.width),
            size(activated.height),
            u16::try_from(activated.io_channel_id).unwrap_or_default(),
            u16::try_from(activated.user_channel_id).unwrap_or_default(),
            activated.share_id,
        );
        Session {
            stage,
            input,
            activated,
            image: DecodedImage::new(PixelFormat::RgbA32, 1, 1),
            notes,
            browser_text: None,
            clipboard_ready: false,
        }
    }

    /// A PDU from the desktop.
    pub fn from_desktop(&mut self, action: Action, frame: &[u8]) -> Vec<Output> {
        match action {
            Action::FastPath => vec![Output::Update(frame.to_vec())],
            Action::X224 => {
                // Slow-path graphics (xrdp sends its bitmaps so), as fast-path.
                if let Some(updates) = to_fast_path(frame, &self.activated) {
                    return updates.into_iter().map(Output::Update).collect();
                }
                let mut outputs = Vec::new();
                match self.stage.process(&mut self.image, Action::X224, frame, None) {
                    Ok(stage_outputs) => {
                        for output in stage_outputs {
                            match output {
                                ActiveStageOutput::ResponseFrame(response) if !response.is_empty() => {
                                    outputs.push(Output::ToDesktop(response));
                                }
                                ActiveStageOutput::Terminate(reason) => {
                                    let sentence = format!("The desktop ended the session: {}.", reason.description());
                                    outputs.push(Output::End(End::Desktop(sentence)));
                                }
                                ActiveStageOutput::DeactivateAll => {
                                    outputs.push(Output::End(End::Desktop(DEACTIVATED.to_string())));
                                }
                                _ => {}
                            }
                        }
                    }
                    Err(err) => tracing::warn!("slow-path PDU not understood: {err}"),
                }
                if outputs.iter().any(|o| matches!(o, Output::End(_))) {
                    return outputs;
                }
                outputs.extend(self.answer_clipboard());
                outputs
            }
        }
    }

    /// The clipboard channel's news, answered (its callbacks cannot send).
    fn answer_clipboard(&mut self) -> Vec<Output> {
        let mut outputs = Vec::new();
        for note in self.notes.take() {
            let reply = match note {
                Note::Announce => {
                    let formats = clipboard::formats(self.browser_text.as_deref());
                    let reply = self.cliprdr(|c| c.initiate_copy(&formats));
                    // Up: the channel is there and took our formats.
                    if reply.is_some() && !self.clipboard_ready {
                        self.clipboard_ready = true;
                        outputs.push(Output::ClipboardReady);
                    }
                    reply
                }
                Note::RemoteCopy(true) => self.cliprdr(|c| c.initiate_paste(ClipboardFormatId::CF_UNICODETEXT)),
                Note::RemoteCopy(false) => None,
                Note::Wanted(format) => {
                    let answer = clipboard::answer(format, self.browser_text.as_deref());
                    self.cliprdr(|c| c.submit_format_data(answer))
                }
                Note::Text(Some(text)) if text.len() <= clipboard::MAX_TEXT => {
                    outputs.push(Output::ClipboardAudit { to_desktop: false, characters: text.chars().count() });
                    outputs.push(Output::ClipboardToBrowser(text));
                    None
                }
                Note::Text(_) => None,
            };
            outputs.extend(reply.map(Output::ToDesktop));
        }
        outputs
    }

    /// A binary message from the browser: input, a frame acknowledgement, or clipboard text.
    pub fn from_browser(&mut self, data: &[u8]) -> Vec<Output> {
        let message = match DesktopClientMessage::decode(data) {
            Ok(DesktopClientMessage { message: Some(message) }) => message,
            _ => return vec![Output::End(End::BadInput(NOT_THE_PROTOCOL.to_string()))],
        };
        if let desktop_client_message::Message::Clipboard(text) = message {
            return self.browser_clipboard(text);
        }
        match self.input.handle(message) {
            Ok(Some(pdu)) => vec![Output::ToDesktop(pdu)],
            Ok(None) => Vec::new(),
            Err(err) => vec![Output::End(End::BadInput(format!("The browser sent input the proxy refuses: {err}.")))],
        }
    }

    /// The browser's clipboard: held here, announced to the desktop, sent when the
    /// desktop asks for it (someone pastes there).
    fn browser_clipboard(&mut self, text: String) -> Vec<Output> {
        if text.len() > clipboard::MAX_TEXT || self.browser_text.as_deref() == Some(text.as_str()) {
            return Vec::new();
        }
        let mut outputs = vec![Output::ClipboardAudit { to_desktop: true, characters: text.chars().count() }];
        self.browser_text = Some(text);
        // Before the channel is up, its initialisation announces it.
        let up = self.stage.get_svc_processor::<CliprdrClient>().is_some_and(CliprdrClient::is_ready);
        if up {
            let formats = clipboard::formats(self.browser_text.as_deref());
            outputs.extend(self.cliprdr(|c| c.initiate_copy(&formats)).map(Output::ToDesktop));
        }
        outputs
    }

    /// What to send the desktop as the proxy leaves, so its session ends (or
    /// disconnects) cleanly.
    pub fn shutdown(&mut self) -> Vec<Vec<u8>> {
        let outputs = self.stage.graceful_shutdown().unwrap_or_default();
        outputs
            .into_iter()
            .filter_map(|output| match output {
                ActiveStageOutput::ResponseFrame(frame) => Some(frame),
                _ => None,
            })
            .collect()
    }

    /// Runs `request` on the clipboard channel (if the desktop accepted one) and encodes
    /// what it wants sent; `None` when there is nothing to send. The channel itself
    /// refuses what its state does not allow (our first format list goes out with its
    /// initialisation).
    fn cliprdr(
        &mut self,
        request: impl FnOnce(
            &mut CliprdrClient,
        )
            -> ironrdp_pdu::PduResult<ironrdp_cliprdr::CliprdrSvcMessages<ironrdp_cliprdr::Client>>,
    ) -> Option<Vec<u8>> {
        let channel = self.stage.get_svc_processor_mut::<CliprdrClient>()?;
        let messages = request(channel).map_err(|err| tracing::debug!("clipboard: {err}")).ok()?;
        self.stage.process_svc_processor_messages(messages).map_err(|err| tracing::debug!("clipboard: {err}")).ok()
    }
}

/// Why the session ends when the desktop deactivates it.
pub const DEACTIVATED: &str =
    "The desktop restarted the session's display (for example after a change of size); reconnect to continue.";

/// Why the session ends when the browser sends something that is not a client message.
pub const NOT_THE_PROTOCOL: &str = "The browser sent a message the desktop protocol does not have.";

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::pb::{DesktopKey, DesktopSize};
    use ironrdp_session::ActiveStageBuilder;

    fn session() -> (Session, Notes) {
        let stage = ActiveStageBuilder {
            static_channels: ironrdp_svc::StaticChannelSet::new(),
            user_channel_id: 1007,
            io_channel_id: 1003,
            message_channel_id: None,
            share_id: 0x10000,
            compression_type: None,
            enable_server_pointer: true,
            pointer_software_rendering: false,
        }
        .build();
        let activated = DesktopActivated {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x10000,
            width: 1024,
            height: 768,
        };
        let notes = Notes::default();
        (Session::new(stage, activated, notes.clone()), notes)
    }

    fn message(message: desktop_client_message::Message) -> Vec<u8> {
        DesktopClientMessage { message: Some(message) }.encode_to_vec()
    }

    #[test]
    fn fast_path_updates_go_to_the_recording_and_the_browser_as_they_came() {
        let (mut session, _) = session();
        assert_eq!(session.from_desktop(Action::FastPath, &[0, 5, 1, 2, 3]), [Output::Update(vec![0, 5, 1, 2, 3])]);
    }

    #[test]
    fn what_is_not_a_client_message_ends_the_session_as_bad_input() {
        let (mut session, _) = session();
        assert_eq!(session.from_browser(&[0xff, 0xff, 0xff]), [Output::End(End::BadInput(NOT_THE_PROTOCOL.into()))]);
        // An empty message decodes, but carries nothing the protocol has.
        assert_eq!(session.from_browser(&[]), [Output::End(End::BadInput(NOT_THE_PROTOCOL.into()))]);
    }

    #[test]
    fn input_becomes_the_proxys_own_pdus_and_bad_input_ends_the_session() {
        let (mut session, _) = session();
        let key =
            message(desktop_client_message::Message::Key(DesktopKey { scancode: 0x1e, extended: false, down: true }));
        let outputs = session.from_browser(&key);
        assert!(matches!(outputs.as_slice(), [Output::ToDesktop(pdu)] if !pdu.is_empty()), "{outputs:?}");
        let bad =
            message(desktop_client_message::Message::Key(DesktopKey { scancode: 300, extended: false, down: true }));
        let outputs = session.from_browser(&bad);
        assert!(
            matches!(outputs.as_slice(), [Output::End(End::BadInput(why))] if why.contains("refuses") && why.contains("300")),
            "{outputs:?}"
        );
        // A frame acknowledgement must be one, for this session's channel: raw bytes are not.
        let forged = message(desktop_client_message::Message::Response(vec![3, 0, 0, 9, 2, 0xf0, 0x80, 0, 0]));
        assert!(matches!(session.from_browser(&forged).as_slice(), [Output::End(End::BadInput(_))]));
        // Live resizing is not built: asked for, nothing happens.
        let resize = message(desktop_client_message::Message::Resize(DesktopSize { width: 800, height: 600 }));
        assert_eq!(session.from_browser(&resize), []);
    }

    #[test]
    fn text_from_the_browser_is_typed_as_unicode_events_and_too_much_at_once_ends_the_session() {
        let (mut session, _) = session();
        let text = message(desktop_client_message::Message::Text("日本語 🙂".into()));
        let outputs = session.from_browser(&text);
        assert!(matches!(outputs.as_slice(), [Output::ToDesktop(pdu)] if !pdu.is_empty()), "{outputs:?}");
        assert_eq!(session.from_browser(&message(desktop_client_message::Message::Text(String::new()))), []);
        let flood = message(desktop_client_message::Message::Text("a".repeat(5000)));
        let outputs = session.from_browser(&flood);
        assert!(
            matches!(outputs.as_slice(), [Output::End(End::BadInput(why))] if why.contains("at most 1024")),
            "{outputs:?}"
        );
    }

    #[test]
    fn a_deactivation_ends_the_session_with_a_sentence() {
        use ironrdp_pdu::mcs::SendDataIndication;
        use ironrdp_pdu::rdp::headers::{ServerDeactivateAll, ShareControlHeader, ShareControlPdu};
        use ironrdp_pdu::x224::X224;
        let (mut session, notes) = session();
        let share = ShareControlHeader {
            share_control_pdu: ShareControlPdu::ServerDeactivateAll(ServerDeactivateAll),
            pdu_source: 1002,
            share_id: 0x10000,
        };
        let user_data = ironrdp_core::encode_vec(&share).unwrap();
        let pdu = X224(SendDataIndication { initiator_id: 1002, channel_id: 1003, user_data: user_data.into() });
        let frame = ironrdp_core::encode_vec(&pdu).unwrap();
        notes.push(Note::Text(Some("left unanswered".into())));
        assert_eq!(session.from_desktop(Action::X224, &frame), [Output::End(End::Desktop(DEACTIVATED.into()))]);
    }

    #[test]
    fn the_browsers_clipboard_is_held_audited_once_and_never_oversized() {
        let (mut session, _) = session();
        let text = |t: &str| message(desktop_client_message::Message::Clipboard(t.to_string()));
        // No clipboard channel on this desktop: held and audited, nothing to send yet.
        assert_eq!(session.from_browser(&text("héllo")), [Output::ClipboardAudit { to_desktop: true, characters: 5 }]);
        assert_eq!(session.from_browser(&text("héllo")), [], "the same text again is not news");
        assert_eq!(session.from_browser(&text(&"x".repeat(clipboard::MAX_TEXT + 1))), []);
        assert_eq!(session.browser_text.as_deref(), Some("héllo"));
    }

    #[test]
    fn the_desktops_clipboard_text_reaches_the_browser_after_a_slow_path_pdu() {
        let (mut session, notes) = session();
        notes.push(Note::Text(Some("from the desktop".into())));
        notes.push(Note::Text(Some("y".repeat(clipboard::MAX_TEXT + 1))));
        notes.push(Note::Text(None));
        notes.push(Note::RemoteCopy(false));
        // A PDU the stage does not understand is logged, not fatal; the notes are answered.
        let outputs = session.from_desktop(Action::X224, &[3, 0, 0, 4]);
        assert_eq!(
            outputs,
            [
                Output::ClipboardAudit { to_desktop: false, characters: 16 },
                Output::ClipboardToBrowser("from the desktop".into())
            ]
        );
        assert!(notes.take().is_empty());
        // With no clipboard channel, the desktop's requests have nothing to answer with,
        // and the browser is not told the clipboard is shared.
        notes.push(Note::Announce);
        notes.push(Note::Wanted(13));
        notes.push(Note::RemoteCopy(true));
        assert_eq!(session.from_desktop(Action::X224, &[3, 0, 0, 4]), []);
    }
}
