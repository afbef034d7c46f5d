//! A binary WebSocket as a byte stream russh can use. russh wants a `Send` stream and
//! `web_sys::WebSocket` is not, so russh gets a [`Stream`] over two queues of messages:
//! the socket's listener puts each message it receives on one, russh reads them off it
//! in place, and each write of russh's goes on the other, which a local task sends as
//! one message. (An in-memory duplex pipe between them, as before, copied every byte
//! once more and woke a task per write on either side.)
//!
//! Over web_sys rather than gloo-net's WebSocket: that one hands over the close code and
//! reason just as well, but it added 5.6 KB (2.5 KB gzip) to the first load. The socket's
//! listeners are gloo-events', kept until the socket has closed.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use crate::listen::listen;

/// Why the socket closed, as the proxy said it (code 4000+ carries a sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

pub struct Socket {
    pub stream: Stream,
    pub closed: Rc<RefCell<Option<Closed>>>,
}

/// The socket's messages as one byte stream, each way.
pub struct Stream {
    incoming: UnboundedReceiver<Vec<u8>>,
    /// The message being read, and how far.
    current: Vec<u8>,
    read: usize,
    /// `None` once shut down: the task sending them then closes the socket.
    outgoing: Option<UnboundedSender<Vec<u8>>>,
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.read == this.current.len() {
            match this.incoming.poll_recv(cx) {
                Poll::Ready(Some(message)) => (this.current, this.read) = (message, 0),
                // The socket closed: the end of the stream.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(this.current.len() - this.read);
        buf.put_slice(&this.current[this.read..this.read + n]);
        this.read += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        // Unbounded, as the socket's own send buffer is: the SSH window the node grants
        // bounds what russh writes.
        let sent = self.outgoing.as_ref().is_some_and(|tx| tx.send(buf.to_vec()).is_ok());
        Poll::Ready(if sent { Ok(buf.len()) } else { Err(std::io::ErrorKind::BrokenPipe.into()) })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.outgoing = None;
        Poll::Ready(Ok(()))
    }
}

/// Opens `url` and waits until it is open. `Err` carries the close the proxy sent when
/// it refused (or a generic one if the socket failed outright).
pub async fn open(url: &str) -> Result<Socket, Closed> {
    let failed = |reason: &str| Closed { code: 0, reason: reason.to_string() };
    let ws = WebSocket::new(url).map_err(|_| failed("The browser could not open a WebSocket."))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let (incoming_tx, incoming) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (outgoing, mut to_node) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let closed: Rc<RefCell<Option<Closed>>> = Rc::default();
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<bool>();
    let opened_tx = Rc::new(RefCell::new(Some(opened_tx)));

    // Shared with on_close, which drops it: that ends the stream russh reads.
    let incoming_tx = Rc::new(RefCell::new(Some(incoming_tx)));
    let message_tx = incoming_tx.clone();
    let on_message = listen(&ws, "message", move |event: &MessageEvent| {
        if let (Ok(buffer), Some(tx)) = (event.data().dyn_into::<js_sys::ArrayBuffer>(), message_tx.borrow().as_ref()) {
            let _ = tx.send(js_sys::Uint8Array::new(&buffer).to_vec());
        }
    });

    let open_signal = opened_tx.clone();
    let on_open = listen(&ws, "open", move |_: &Event| {
        if let Some(tx) = open_signal.borrow_mut().take() {
            let _ = tx.send(true);
        }
    });

    let close_slot = closed.clone();
    let (gone_tx, gone) = tokio::sync::oneshot::channel::<()>();
    let gone_tx = RefCell::new(Some(gone_tx));
    let on_close = listen(&ws, "close", move |event: &CloseEvent| {
        close_slot.borrow_mut().get_or_insert(Closed { code: event.code(), reason: event.reason() });
        incoming_tx.borrow_mut().take();
        if let Some(tx) = gone_tx.borrow_mut().take() {
            let _ = tx.send(());
        }
        if let Some(tx) = opened_tx.borrow_mut().take() {
            let _ = tx.send(false);
        }
    });
    // Removed when dropped: on a refusal below, once the socket has closed; otherwise by
    // the task that sends, once the socket has closed (russh may stop first: the
    // listeners, and the close they record, last as long as the socket).
    let listeners = vec![on_message, on_open, on_close];

    if !opened_rx.await.unwrap_or(false) {
        let close = closed.borrow().clone();
        return Err(close.unwrap_or_else(|| failed("The connection to Gatehouse failed.")));
    }

    // russh → node, a message per write. When russh shuts its side down (or drops it),
    // the socket is closed; the listeners stay until the close has arrived.
    let sender = ws.clone();
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(message) = to_node.recv().await {
            // Closed by the proxy (a session ended from outside): russh's last words
            // have nowhere to go, and sending would log an error.
            if sender.ready_state() != WebSocket::OPEN || sender.send_with_u8_array(&message).is_err() {
                break;
            }
        }
        let _ = sender.close();
        let _ = gone.await;
        drop(listeners);
    });
    let stream = Stream { incoming, current: Vec::new(), read: 0, outgoing: Some(outgoing) };
    Ok(Socket { stream, closed })
}
