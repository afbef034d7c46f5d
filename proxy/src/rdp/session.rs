//! A desktop session's decisions, without I/O: what to do with each PDU from the
//! desktop and each message from the browser. [`Session::from_desktop`] and
//! [`Session::from_browser`] return [`Output`]s in order; the async shell
//! ([`crate::http::desktops`]) only reads, writes, records and closes.
//!
//! The proxy follows the slow-path (X.224) side of the session itself (server requests,
//! errors, the end, the clipboard and display control channels, the desktop's
//! deactivation and reactivation after a change of size); fast-path graphics, and
//! slow-path graphics turned into fast-path, go to the browser as they came (and into
//! the recording).

use gatehouse_desktop::input::InputEncoder;
use gatehouse_desktop::slow_path::to_fast_path;
use std::time::Instant;

use gatehouse_proto::pb::{DesktopActivated, DesktopClientMessage, DesktopLiveResize, desktop_client_message};
use ironrdp_cliprdr::CliprdrClient;
use ironrdp_cliprdr::pdu::ClipboardFormatId;
use ironrdp_connector::Sequence as _;
use ironrdp_connector::connection_activation::{
    ConnectionActivationFactory, ConnectionActivationSequence, ConnectionActivationState,
};
use ironrdp_core::WriteBuf;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::Action;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageOutput};
use prost::Message as _;

use super::clipboard::{self, Note, Notes};
use super::resize::{self, Resizer, Size};

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
    /// The desktop activated again (after a change of size): record it, then tell the
    /// browser, whose decoder starts again at this size.
    Activated(DesktopActivated),
    /// The desktop can change size live: tell the browser (once).
    LiveResize(DesktopLiveResize),
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
    /// Makes the sequence that activates the session again after the desktop
    /// deactivated it; without one, a deactivation ends the session.
    activation: Option<ConnectionActivationFactory>,
    /// The reactivation under way, fed the desktop's slow-path PDUs until it is done.
    reactivating: Option<ConnectionActivationSequence>,
    /// When a size the browser asked for goes to the desktop.
    resizer: Resizer,
    /// Whether the browser was told that the desktop changes size live.
    live_resize_told: bool,
}

impl Session {
    /// `stage` is IronRDP's active stage for the connection; `notes` the clipboard
    /// backend's (empty when the desktop has no clipboard channel); `activation` the
    /// connection's, to follow a deactivation (`None`: a deactivation ends the session).
    pub fn new(
        stage: ActiveStage,
        activated: DesktopActivated,
        notes: Notes,
        activation: Option<ConnectionActivationFactory>,
    ) -> Session {
        Session {
            stage,
            input: input_encoder(&activated),
            activated,
            image: DecodedImage::new(PixelFormat::RgbA32, 1, 1),
            notes,
            browser_text: None,
            clipboard_ready: false,
            activation,
            reactivating: None,
            resizer: Resizer::new(Size { width: activated.width, height: activated.height }),
            live_resize_told: false,
        }
    }

    /// A PDU from the desktop, read at `now`.
    pub fn from_desktop(&mut self, action: Action, frame: &[u8], now: Instant) -> Vec<Output> {
        match action {
            Action::FastPath => vec![Output::Update(frame.to_vec())],
            Action::X224 => {
                // Slow-path graphics (xrdp sends its bitmaps so), as fast-path.
                if let Some(updates) = to_fast_path(frame, &self.activated) {
                    return updates.into_iter().map(Output::Update).collect();
                }
                // While the desktop activates again, what comes on the session's own channel
                // is the activation's; other channels (clipboard, dynamic) go on as ever.
                if self.reactivating.is_some() && for_activation(frame, &self.activated) {
                    return self.reactivation_step(frame, now);
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
                                ActiveStageOutput::DeactivateAll => match &self.activation {
                                    // The desktop activates the session again (at a new
                                    // size, after a resize): follow it.
                                    Some(factory) => self.reactivating = Some(factory.create()),
                                    None => outputs.push(Output::End(End::Desktop(DEACTIVATED.to_string()))),
                                },
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
                outputs.extend(self.tell_live_resize());
                outputs
            }
        }
    }

    /// One step of the reactivation (capabilities, then the finalization's
    /// synchronisation): what to answer, and once it is done, the new activation.
    fn reactivation_step(&mut self, frame: &[u8], now: Instant) -> Vec<Output> {
        let Some(sequence) = self.reactivating.as_mut() else { return Vec::new() };
        let mut outputs = Vec::new();
        let mut input = Some(frame);
        // A step with no PDU to wait for is taken at once (the client's side of the
        // finalization), until the sequence waits for the desktop again or is done.
        loop {
            let mut buf = WriteBuf::new();
            let stepped = match input.take() {
                Some(frame) => sequence.step(frame, None, &mut buf),
                None => sequence.step_no_input(&mut buf),
            };
            if let Err(err) = stepped {
                tracing::warn!("the desktop's reactivation failed: {err:#}");
                self.reactivating = None;
                return vec![Output::End(End::Desktop(REACTIVATION_FAILED.to_string()))];
            }
            if !buf.filled().is_empty() {
                outputs.push(Output::ToDesktop(buf.filled().to_vec()));
            }
            if sequence.state().is_terminal() || sequence.next_pdu_hint().is_some() {
                break;
            }
        }
        match sequence.connection_activation_state() {
            ConnectionActivationState::Finalized {
                desktop_size,
                share_id,
                static_channel_chunk_size,
                enable_server_pointer,
                pointer_software_rendering,
                ..
            } => {
                self.reactivating = None;
                let (io_channel_id, user_channel_id) = sequence_ids(&self.activated);
                if !self.stage.reactivate(
                    io_channel_id,
                    user_channel_id,
                    share_id,
                    enable_server_pointer,
                    pointer_software_rendering,
                    static_channel_chunk_size,
                ) {
                    return vec![Output::End(End::Desktop(REACTIVATION_FAILED.to_string()))];
                }
                self.activated = DesktopActivated {
                    share_id,
                    width: u32::from(desktop_size.width),
                    height: u32::from(desktop_size.height),
                    ..self.activated
                };
                self.input = input_encoder(&self.activated);
                outputs.push(Output::Activated(self.activated));
                let size = Size { width: self.activated.width, height: self.activated.height };
                if let Some(next) = self.resizer.activated(size, now) {
                    outputs.extend(self.send_layout(next));
                }
            }
            ConnectionActivationState::Redirected { .. } | ConnectionActivationState::Consumed => {
                self.reactivating = None;
                return vec![Output::End(End::Desktop(REACTIVATION_FAILED.to_string()))];
            }
            _ => {}
        }
        outputs
    }

    /// Once the desktop's display control channel is up: say so to the browser.
    fn tell_live_resize(&mut self) -> Option<Output> {
        if self.live_resize_told || self.activation.is_none() || self.stage.display_control_ready() != Some(true) {
            return None;
        }
        self.live_resize_told = true;
        let area = self.max_area();
        let biggest = resize::fit(resize::MAX_SIDE, resize::MAX_SIDE, area).ok()?;
        Some(Output::LiveResize(DesktopLiveResize { max_width: biggest.width, max_height: biggest.height }))
    }

    /// The largest monitor area the desktop said it takes.
    fn max_area(&self) -> u64 {
        self.stage.display_control_capabilities().map_or(0, |caps| caps.max_monitor_area())
    }

    /// The browser's area is now `width`×`height`: a monitor layout for the desktop, when
    /// it changes size live and this is a size to ask for now.
    fn browser_resize(&mut self, width: u32, height: u32, now: Instant) -> Vec<Output> {
        let size = match resize::fit(width, height, self.max_area()) {
            Ok(size) => size,
            Err(err) => return vec![Output::End(End::BadInput(format!("{}.", capitalised(&err.to_string()))))],
        };
        if !self.live_resize_told {
            // The page reconnects instead (it was never told otherwise).
            return Vec::new();
        }
        match self.resizer.request(size, now) {
            Some(size) => self.send_layout(size),
            None => Vec::new(),
        }
    }

    /// The monitor layout of one screen of `size`, for the desktop.
    fn send_layout(&mut self, size: Size) -> Vec<Output> {
        match self.stage.encode_resize(size.width, size.height, None, None) {
            Some(Ok(frame)) => vec![Output::ToDesktop(frame)],
            Some(Err(err)) => {
                tracing::warn!("cannot encode a monitor layout of {}x{}: {err}", size.width, size.height);
                Vec::new()
            }
            None => Vec::new(),
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

    /// A binary message from the browser, at `now`: input, a frame acknowledgement,
    /// clipboard text, or its new size.
    pub fn from_browser(&mut self, data: &[u8], now: Instant) -> Vec<Output> {
        let message = match DesktopClientMessage::decode(data) {
            Ok(DesktopClientMessage { message: Some(message) }) => message,
            _ => return vec![Output::End(End::BadInput(NOT_THE_PROTOCOL.to_string()))],
        };
        match message {
            desktop_client_message::Message::Clipboard(text) => return self.browser_clipboard(text),
            desktop_client_message::Message::Resize(size) => return self.browser_resize(size.width, size.height, now),
            _ => {}
        }
        if self.reactivating.is_some() {
            // Between deactivation and activation there is no session to send input to.
            return Vec::new();
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

/// The encoder of input for the session `activated` describes.
fn input_encoder(activated: &DesktopActivated) -> InputEncoder {
    let size = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    InputEncoder::new(
        size(activated.width),
        size(activated.height),
        u16::try_from(activated.io_channel_id).unwrap_or_default(),
        u16::try_from(activated.user_channel_id).unwrap_or_default(),
        activated.share_id,
    )
}

/// Whether a slow-path PDU is the reactivation's: on the session's own channel, and
/// of a kind the activation takes (the desktop may send others meanwhile, such as a
/// pointer, which the session handles as ever).
fn for_activation(frame: &[u8], activated: &DesktopActivated) -> bool {
    use ironrdp_pdu::rdp::headers::{ShareControlPdu, ShareDataPdu};
    let Ok(indication) = ironrdp_pdu::mcs::decode_send_data_indication(frame) else { return false };
    if u32::from(indication.channel_id) != activated.io_channel_id {
        return false;
    }
    match ironrdp_pdu::rdp::headers::decode_share_control(indication).map(|ctx| ctx.pdu) {
        Ok(ShareControlPdu::Data(header)) => matches!(
            header.share_data_pdu,
            ShareDataPdu::Synchronize(_)
                | ShareDataPdu::Control(_)
                | ShareDataPdu::ServerSetErrorInfo(_)
                | ShareDataPdu::MonitorLayout(_)
                | ShareDataPdu::FontMap(_)
        ),
        // The demand, a second deactivation, or what does not decode: the activation's
        // to judge (and to fail on).
        _ => true,
    }
}

/// The session's MCS channels (they never change, not even across a reactivation).
fn sequence_ids(activated: &DesktopActivated) -> (u16, u16) {
    (
        u16::try_from(activated.io_channel_id).unwrap_or_default(),
        u16::try_from(activated.user_channel_id).unwrap_or_default(),
    )
}

fn capitalised(sentence: &str) -> String {
    let mut chars = sentence.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Why the session ends when the desktop deactivates it and cannot be followed.
pub const REACTIVATION_FAILED: &str = "The desktop restarted the session's display (for example after a change of size) in a way the proxy could not follow; reconnect to continue.";

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
        (Session::new(stage, activated, notes.clone(), None), notes)
    }

    fn message(message: desktop_client_message::Message) -> Vec<u8> {
        DesktopClientMessage { message: Some(message) }.encode_to_vec()
    }

    #[test]
    fn fast_path_updates_go_to_the_recording_and_the_browser_as_they_came() {
        let (mut session, _) = session();
        assert_eq!(
            session.from_desktop(Action::FastPath, &[0, 5, 1, 2, 3], Instant::now()),
            [Output::Update(vec![0, 5, 1, 2, 3])]
        );
    }

    #[test]
    fn what_is_not_a_client_message_ends_the_session_as_bad_input() {
        let (mut session, _) = session();
        assert_eq!(
            session.from_browser(&[0xff, 0xff, 0xff], Instant::now()),
            [Output::End(End::BadInput(NOT_THE_PROTOCOL.into()))]
        );
        // An empty message decodes, but carries nothing the protocol has.
        assert_eq!(session.from_browser(&[], Instant::now()), [Output::End(End::BadInput(NOT_THE_PROTOCOL.into()))]);
    }

    #[test]
    fn input_becomes_the_proxys_own_pdus_and_bad_input_ends_the_session() {
        let (mut session, _) = session();
        let key =
            message(desktop_client_message::Message::Key(DesktopKey { scancode: 0x1e, extended: false, down: true }));
        let outputs = session.from_browser(&key, Instant::now());
        assert!(matches!(outputs.as_slice(), [Output::ToDesktop(pdu)] if !pdu.is_empty()), "{outputs:?}");
        let bad =
            message(desktop_client_message::Message::Key(DesktopKey { scancode: 300, extended: false, down: true }));
        let outputs = session.from_browser(&bad, Instant::now());
        assert!(
            matches!(outputs.as_slice(), [Output::End(End::BadInput(why))] if why.contains("refuses") && why.contains("300")),
            "{outputs:?}"
        );
        // A frame acknowledgement must be one, for this session's channel: raw bytes are not.
        let forged = message(desktop_client_message::Message::Response(vec![3, 0, 0, 9, 2, 0xf0, 0x80, 0, 0]));
        assert!(matches!(session.from_browser(&forged, Instant::now()).as_slice(), [Output::End(End::BadInput(_))]));
        // A desktop that did not open the display control channel is not resized live
        // (the page reconnects instead): asked for, nothing happens.
        let resize = message(desktop_client_message::Message::Resize(DesktopSize { width: 800, height: 600 }));
        assert_eq!(session.from_browser(&resize, Instant::now()), []);
        // A size no screen has is refused, whatever the desktop.
        let absurd = message(desktop_client_message::Message::Resize(DesktopSize { width: 0, height: 600 }));
        let outputs = session.from_browser(&absurd, Instant::now());
        assert!(
            matches!(outputs.as_slice(), [Output::End(End::BadInput(why))] if why.contains("0×600")),
            "{outputs:?}"
        );
    }

    #[test]
    fn text_from_the_browser_is_typed_as_unicode_events_and_too_much_at_once_ends_the_session() {
        let (mut session, _) = session();
        let text = message(desktop_client_message::Message::Text("日本語 🙂".into()));
        let outputs = session.from_browser(&text, Instant::now());
        assert!(matches!(outputs.as_slice(), [Output::ToDesktop(pdu)] if !pdu.is_empty()), "{outputs:?}");
        assert_eq!(
            session.from_browser(&message(desktop_client_message::Message::Text(String::new())), Instant::now()),
            []
        );
        let flood = message(desktop_client_message::Message::Text("a".repeat(5000)));
        let outputs = session.from_browser(&flood, Instant::now());
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
        assert_eq!(
            session.from_desktop(Action::X224, &frame, Instant::now()),
            [Output::End(End::Desktop(DEACTIVATED.into()))]
        );
    }

    #[test]
    fn the_browsers_clipboard_is_held_audited_once_and_never_oversized() {
        let (mut session, _) = session();
        let text = |t: &str| message(desktop_client_message::Message::Clipboard(t.to_string()));
        // No clipboard channel on this desktop: held and audited, nothing to send yet.
        assert_eq!(
            session.from_browser(&text("héllo"), Instant::now()),
            [Output::ClipboardAudit { to_desktop: true, characters: 5 }]
        );
        assert_eq!(session.from_browser(&text("héllo"), Instant::now()), [], "the same text again is not news");
        assert_eq!(session.from_browser(&text(&"x".repeat(clipboard::MAX_TEXT + 1)), Instant::now()), []);
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
        let outputs = session.from_desktop(Action::X224, &[3, 0, 0, 4], Instant::now());
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
        assert_eq!(session.from_desktop(Action::X224, &[3, 0, 0, 4], Instant::now()), []);
    }

    /// A slow-path PDU from the desktop on the session's channel (1003).
    fn share_control(pdu: ironrdp_pdu::rdp::headers::ShareControlPdu) -> Vec<u8> {
        use ironrdp_pdu::mcs::SendDataIndication;
        use ironrdp_pdu::rdp::headers::ShareControlHeader;
        use ironrdp_pdu::x224::X224;
        let share = ShareControlHeader { share_control_pdu: pdu, pdu_source: 1002, share_id: 0x10001 };
        let user_data = ironrdp_core::encode_vec(&share).unwrap();
        ironrdp_core::encode_vec(&X224(SendDataIndication {
            initiator_id: 1002,
            channel_id: 1003,
            user_data: user_data.into(),
        }))
        .unwrap()
    }

    fn share_data(pdu: ironrdp_pdu::rdp::headers::ShareDataPdu) -> Vec<u8> {
        use ironrdp_pdu::rdp::headers::{CompressionFlags, ShareControlPdu, ShareDataHeader, StreamPriority};
        share_control(ShareControlPdu::Data(ShareDataHeader {
            share_data_pdu: pdu,
            stream_priority: StreamPriority::Medium,
            compression_flags: CompressionFlags::empty(),
            compression_type: ironrdp_pdu::rdp::client_info::CompressionType::K8,
        }))
    }

    fn session_that_follows_deactivations() -> Session {
        let (session, notes) = session();
        let desktop = crate::inventory::desktops::Desktop {
            name: crate::inventory::nodes::NodeName::parse("lab").unwrap(),
            addr: "127.0.0.1:3389".into(),
            labels: Default::default(),
            username: "user".into(),
            domain: None,
            security: crate::inventory::desktops::Security::Tls,
            tls_pin: None,
        };
        let size = ironrdp_connector::DesktopSize { width: 1024, height: 768 };
        let config = crate::rdp::connect::connector_config(
            &desktop,
            "pw".into(),
            size,
            gatehouse_proto::layout::KeyboardLayout::EN_US,
            &[],
        );
        let factory = ConnectionActivationFactory::new(config, 1003, 1007);
        Session::new(session.stage, session.activated, notes, Some(factory))
    }

    #[test]
    fn after_a_deactivation_the_session_activates_again_at_the_desktops_new_size() {
        use ironrdp_pdu::rdp::capability_sets::{
            Bitmap, BitmapDrawingFlags, CapabilitySet, DemandActive, ServerDemandActive,
        };
        use ironrdp_pdu::rdp::finalization_messages::{ControlAction, ControlPdu, FontPdu, SynchronizePdu};
        use ironrdp_pdu::rdp::headers::{ServerDeactivateAll, ShareControlPdu, ShareDataPdu};
        let mut session = session_that_follows_deactivations();
        let now = Instant::now();
        let deactivate = share_control(ShareControlPdu::ServerDeactivateAll(ServerDeactivateAll));
        assert_eq!(session.from_desktop(Action::X224, &deactivate, now), [], "not the end: followed");
        // Input waits for the new activation.
        let key =
            message(desktop_client_message::Message::Key(DesktopKey { scancode: 0x1e, extended: false, down: true }));
        assert_eq!(session.from_browser(&key, now), []);
        let demand = ShareControlPdu::ServerDemandActive(ServerDemandActive {
            pdu: DemandActive {
                source_descriptor: "RDP".into(),
                capability_sets: vec![CapabilitySet::Bitmap(Bitmap {
                    pref_bits_per_pix: 32,
                    desktop_width: 1280,
                    desktop_height: 800,
                    desktop_resize_flag: true,
                    drawing_flags: BitmapDrawingFlags::empty(),
                })],
            },
        });
        // The client's half: the confirm, then synchronise, cooperate, request control and
        // the font list, at once.
        let outputs = session.from_desktop(Action::X224, &share_control(demand), now);
        assert_eq!(outputs.len(), 5, "{outputs:?}");
        assert!(outputs.iter().all(|o| matches!(o, Output::ToDesktop(bytes) if !bytes.is_empty())));
        // The desktop's half of the finalization.
        for pdu in [
            ShareDataPdu::Synchronize(SynchronizePdu { target_user_id: 1007 }),
            ShareDataPdu::Control(ControlPdu { action: ControlAction::Cooperate, grant_id: 0, control_id: 0 }),
            ShareDataPdu::Control(ControlPdu {
                action: ControlAction::GrantedControl,
                grant_id: 1007,
                control_id: 0x3ea,
            }),
        ] {
            assert_eq!(session.from_desktop(Action::X224, &share_data(pdu), now), []);
        }
        let outputs = session.from_desktop(Action::X224, &share_data(ShareDataPdu::FontMap(FontPdu::default())), now);
        let expected = DesktopActivated {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x10001,
            width: 1280,
            height: 800,
        };
        assert_eq!(outputs, [Output::Activated(expected)]);
        // Input goes again, for the new size.
        assert!(matches!(session.from_browser(&key, now).as_slice(), [Output::ToDesktop(_)]));
    }

    #[test]
    fn a_reactivation_the_proxy_cannot_follow_ends_the_session_with_a_sentence() {
        use ironrdp_pdu::rdp::headers::{ServerDeactivateAll, ShareControlPdu, ShareDataPdu};
        let mut session = session_that_follows_deactivations();
        let now = Instant::now();
        let deactivate = share_control(ShareControlPdu::ServerDeactivateAll(ServerDeactivateAll));
        assert_eq!(session.from_desktop(Action::X224, &deactivate, now), []);
        // Finalisation before any demand: not what the activation expects.
        let outputs = session.from_desktop(Action::X224, &share_data(ShareDataPdu::FontMap(Default::default())), now);
        assert_eq!(outputs, [Output::End(End::Desktop(REACTIVATION_FAILED.into()))]);
    }
}
