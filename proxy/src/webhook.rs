//! The access-request webhook: a JSON POST to one configured URL when a request is made
//! and when it is decided (`[access_requests] webhook_url`). Events wait in a bounded
//! queue and a background task delivers them in order, each retried with backoff, so a
//! slow or absent receiver never holds up the person asking or reviewing; past the
//! queue's size, events are dropped with a warning in the log.

use std::time::Duration;

use tokio::sync::mpsc;

/// Events queued at most; more are dropped (and logged).
const QUEUE: usize = 256;
/// Tries per event, and the wait before the first retry (doubling after each).
pub const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where events go: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Webhook {
    queue: mpsc::Sender<serde_json::Value>,
}

/// Checks a webhook address: `https://`, or `http://` to a loopback address only (a
/// receiver on the proxy's own machine), since the body names people and reasons.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("webhook_url must start with https:// (got {url:?})"));
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| if port.parse::<u16>().is_ok() { h } else { host });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { Ok(()) } else { Err(format!("webhook_url may be http:// only to a loopback address (got {url:?})")) }
}

impl Webhook {
    /// A webhook to `url`, and the task that delivers its events (spawn it).
    pub fn new(url: String) -> (Webhook, impl std::future::Future<Output = ()> + Send) {
        let (queue, events) = mpsc::channel(QUEUE);
        (Webhook { queue }, deliver_all(url, events))
    }

    /// Queues `event`; never waits.
    pub fn send(&self, event: serde_json::Value) {
        if let Err(err) = self.queue.try_send(event) {
            tracing::warn!(%err, "the access-request webhook's queue is full or closed; an event was dropped");
        }
    }
}

fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .inspect_err(|err| tracing::error!(%err, "cannot make the webhook's HTTP client"))
        .ok()
}

async fn deliver_all(url: String, mut events: mpsc::Receiver<serde_json::Value>) {
    let Some(client) = client() else { return };
    while let Some(event) = events.recv().await {
        deliver(&client, &url, &event).await;
    }
}

/// Posts `event` until the receiver answers 2xx or [`ATTEMPTS`] tries failed; whether
/// it was delivered.
pub async fn deliver(client: &reqwest::Client, url: &str, event: &serde_json::Value) -> bool {
    let body = event.to_string();
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "gatehouse-webhook")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => tracing::warn!(status = %response.status(), attempt, "the webhook refused an event"),
            Err(err) => tracing::warn!(%err, attempt, "cannot reach the webhook"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    tracing::error!(event = %event["event"], "gave up delivering an event to the webhook");
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://[::1]:80/").is_ok());
        assert!(check_url("http://hooks.example.com/x").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    /// A receiver on a real socket that fails the first request with 500, then takes the
    /// second: the event arrives, retried, and `send` returned at once.
    #[tokio::test]
    async fn an_event_is_posted_as_json_and_retried_until_taken() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (got, mut bodies) = mpsc::channel::<String>(4);
        tokio::spawn(async move {
            for status in ["500 Internal Server Error", "204 No Content"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and the body its Content-Length announces.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            assert!(head.starts_with("POST /hook "), "{head}");
                            assert!(head.to_ascii_lowercase().contains("content-type: application/json"));
                            got.send(body.to_string()).await.unwrap();
                            break;
                        }
                    }
                }
                let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let (webhook, task) = Webhook::new(url);
        tokio::spawn(task);
        let started = std::time::Instant::now();
        webhook.send(serde_json::json!({"event": "request.created", "request": {"id": 7}}));
        assert!(started.elapsed() < Duration::from_millis(50), "send does not wait for delivery");
        let first: serde_json::Value = serde_json::from_str(&bodies.recv().await.unwrap()).unwrap();
        let second: serde_json::Value = serde_json::from_str(&bodies.recv().await.unwrap()).unwrap();
        assert_eq!(first, second, "the same event, again");
        assert_eq!(first["event"], "request.created");
        assert_eq!(first["request"]["id"], 7);
    }
}
