//! Tests of the SSH flow control the recorded mode relies on: the patched russh
//! (`vendor/russh/GATEHOUSE.md`) grants a peer window as the application reads a
//! channel, not as data arrives. A real russh client and server, over an in-memory pipe.

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use russh::keys::PublicKeyOrCertificate;
    use russh::{Channel, ChannelMsg, MethodKind, MethodSet, client, server};
    use tokio::sync::mpsc;

    /// Small on purpose: a window of two packets and a queue of eight messages, so an
    /// unread channel fills the queue fast when window is granted on arrival.
    const WINDOW: u32 = 64 * 1024;
    const QUEUE: usize = 8;

    struct Server(mpsc::UnboundedSender<Channel<server::Msg>>);

    impl server::Handler for Server {
        type Error = russh::Error;

        async fn auth_none(&mut self, _user: &str) -> Result<server::Auth, Self::Error> {
            Ok(server::Auth::Accept)
        }

        async fn channel_open_session(
            &mut self,
            channel: Channel<server::Msg>,
            reply: server::ChannelOpenHandle,
            _session: &mut server::Session,
        ) -> Result<(), Self::Error> {
            reply.accept().await;
            let _ = self.0.send(channel);
            Ok(())
        }
    }

    struct Client;

    impl client::Handler for Client {
        type Error = russh::Error;

        async fn check_server_key(&mut self, _key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }

    /// A signed-in client, its session channel, and the server's end of that channel.
    async fn session() -> (client::Handle<Client>, Channel<client::Msg>, Channel<server::Msg>) {
        let (near, far) = tokio::io::duplex(1 << 20);
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::None);
        let config = Arc::new(server::Config {
            keys: vec![crate::ca::ephemeral_key("window test")],
            methods,
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            window_size: WINDOW,
            channel_buffer_size: QUEUE,
            ..server::Config::default()
        });
        let (opened, mut channels) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            if let Ok(running) = server::run_stream(config, far, Server(opened)).await {
                let _ = running.await;
            }
        });
        let config = Arc::new(client::Config { window_size: WINDOW, channel_buffer_size: QUEUE, ..Default::default() });
        let mut handle = client::connect_stream(config, near, Client).await.expect("handshake");
        assert!(handle.authenticate_none("flow").await.expect("auth").success());
        let ours = handle.channel_open_session().await.expect("open");
        let theirs = channels.recv().await.expect("the server's end");
        (handle, ours, theirs)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    /// Reads data off a channel until `len` bytes came, or the channel ended.
    async fn read_all(read: &mut russh::ChannelReadHalf, len: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(len);
        while got.len() < len {
            match read.wait().await {
                Some(ChannelMsg::Data { data }) => got.extend_from_slice(&data),
                Some(_) => {}
                None => break,
            }
        }
        got
    }

    /// The circle that stalled recorded mode, in one session: the server's application
    /// stops reading input (as the bridge does while the node's window is shut) and
    /// goes on writing output. When russh granted window on arrival, the client kept
    /// sending, the unread queue filled, the server's session loop stopped on it and
    /// no output went out any more. Now the client is held back by the window alone,
    /// the loop keeps serving, and every byte of input arrives once it is read.
    #[tokio::test]
    async fn a_channel_whose_reader_stops_holds_its_sender_back_and_still_carries_output() {
        let (_handle, ours, theirs) = session().await;
        let (mut our_read, our_write) = ours.split();
        let (mut their_read, their_write) = theirs.split();
        let input = pattern(4 << 20, 7);
        let output = pattern(2 << 20, 11);

        let sent = input.clone();
        let mut sending = tokio::spawn(async move { our_write.data(&sent[..]).await.is_ok() });
        let out = output.clone();
        let writing = tokio::spawn(async move { their_write.data(&out[..]).await.is_ok() });

        let got = tokio::time::timeout(Duration::from_secs(20), read_all(&mut our_read, output.len()))
            .await
            .expect("output must keep flowing while the input is not read");
        assert!(got == output, "output arrived altered ({} of {} bytes)", got.len(), output.len());
        assert!(writing.await.expect("writer"));
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut sending).await.is_err(),
            "4 MiB of input went out although nobody read past a 64 KiB window"
        );

        let got = tokio::time::timeout(Duration::from_secs(20), read_all(&mut their_read, input.len()))
            .await
            .expect("the input must arrive once it is read");
        assert!(got == input, "input arrived altered ({} of {} bytes)", got.len(), input.len());
        assert!(sending.await.expect("sender"), "the sender failed");
    }
}
