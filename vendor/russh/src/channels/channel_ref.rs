use std::sync::Arc;

use tokio::sync::mpsc::Sender;

use super::{Flow, WindowSizeRef};
use crate::ChannelMsg;

/// A handle to the [`super::Channel`]'s to be able to transmit messages
/// to it and update it's `window_size`.
#[derive(Debug)]
pub struct ChannelRef {
    pub(super) sender: Sender<ChannelMsg>,
    pub(super) window_size: WindowSizeRef,
    /// Set when the channel's [`super::Channel`] counts what it reads, so the session
    /// grants window as it is read; without it, window is granted on arrival.
    pub(super) flow: Option<Arc<Flow>>,
}

impl ChannelRef {
    pub fn new(sender: Sender<ChannelMsg>) -> Self {
        Self {
            sender,
            window_size: WindowSizeRef::new(0),
            flow: None,
        }
    }

    /// A channel whose reader (made with [`ChannelRef::flow`]) counts what it reads.
    pub(crate) fn counted(sender: Sender<ChannelMsg>) -> Self {
        Self {
            flow: Some(Arc::default()),
            ..Self::new(sender)
        }
    }

    /// Nothing waits in the queue for the reader.
    pub(crate) fn is_drained(&self) -> bool {
        self.sender.capacity() == self.sender.max_capacity()
    }

    pub(crate) fn flow(&self) -> Option<&Arc<Flow>> {
        self.flow.as_ref()
    }

    pub(crate) fn window_size(&self) -> &WindowSizeRef {
        &self.window_size
    }
}

impl std::ops::Deref for ChannelRef {
    type Target = Sender<ChannelMsg>;

    fn deref(&self) -> &Self::Target {
        &self.sender
    }
}
