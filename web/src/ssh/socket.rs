//! A binary WebSocket as a byte stream russh can use. russh wants a `Send` stream and
//! `web_sys::WebSocket` is not, so russh gets one end of an in-memory duplex pipe and
//! two local tasks copy between the other end and the socket.
//!
//! Over web_sys rather than gloo-net's WebSocket: that one hands over the close code and
//! reason just as well, but it added 5.6 KB (2.5 KB gzip) to the first load. The socket's
//! listeners are gloo-events', kept until the socket has closed.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
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
    pub stream: DuplexStream,
    pub closed: Rc<RefCell<Option<Closed>>>,
}

/// Opens `url` and waits until it is open. `Err` carries the close the proxy sent when
/// it refused (or a generic one if the socket failed outright).
pub async fn open(url: &str) -> Result<Socket, Closed> {
    let failed = |reason: &str| Closed { code: 0, reason: reason.to_string() };
    let ws = WebSocket::new(url).map_err(|_| failed("The browser could not open a WebSocket."))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let (stream, bridge) = tokio::io::duplex(256 * 1024);
    let (mut from_node, mut to_russh) = tokio::io::split(bridge);
    let (incoming_tx, mut incoming_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
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
    let on_close = listen(&ws, "close", move |event: &CloseEvent| {
        close_slot.borrow_mut().get_or_insert(Closed { code: event.code(), reason: event.reason() });
        incoming_tx.borrow_mut().take();
        if let Some(tx) = opened_tx.borrow_mut().take() {
            let _ = tx.send(false);
        }
    });
    // Removed when dropped: on a refusal below, once the socket has closed; otherwise by
    // the task that reads until the close.
    let listeners = vec![on_message, on_open, on_close];

    if !opened_rx.await.unwrap_or(false) {
        let close = closed.borrow().clone();
        return Err(close.unwrap_or_else(|| failed("The connection to Gatehouse failed.")));
    }

    // Node → russh. When the socket closes, on_close drops the sender, this loop ends,
    // and russh sees the end of its stream. It reads to the close even if russh stopped
    // first, so the listeners (and the close they record) last as long as the socket.
    wasm_bindgen_futures::spawn_local(async move {
        let mut russh_reading = true;
        while let Some(chunk) = incoming_rx.recv().await {
            if russh_reading {
                russh_reading = to_russh.write_all(&chunk).await.is_ok();
            }
        }
        let _ = to_russh.shutdown().await;
        drop(listeners);
    });
    // russh → node.
    let sender = ws.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match from_node.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // Closed by the proxy (a session ended from outside): russh's last
                    // words have nowhere to go, and sending would log an error.
                    if sender.ready_state() != WebSocket::OPEN || sender.send_with_u8_array(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sender.close();
    });
    Ok(Socket { stream, closed })
}
