//! One admitted connection, from admission to its end: announce it,
//! resubscribe every channel, then serve — socket frames, commands, the
//! idle timer, the paced outgoing queue and token refreshes — until the
//! connection is lost or the client closes.
//!
//! Invariants: subscriptions are sent before any queued message, and
//! queued messages leave in order; a queued frame that could not be written
//! goes back to the head of the queue for the next connection; every frame
//! sent takes a token from the one bucket; a connection silent for the
//! idle timeout is given up; the close code decides whether reconnecting
//! can help.

use std::future::pending;
use std::pin::pin;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_websockets::Message;

use super::state::{lost, lost_transport, Driver, End, Live, TokenFuture, Ws};
use crate::error::Error;
use crate::event::{ClientEvent, ConnectionState};
use crate::frame::{self, Welcome};

type Incoming = Option<Result<Message, tokio_websockets::Error>>;

impl Driver {
    /// Serves one admitted connection until it ends.
    pub(crate) async fn session(&mut self, ws: Ws, welcome: Welcome) -> End {
        let mut live = self.admitted(ws, welcome);
        // Subscriptions first, then the queued messages, in order.
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for text in self.resubscribe_frames(&channels) {
            if let Some(end) = self.send_control(&mut live.ws, text).await {
                return end;
            }
        }
        let mut idle = pin!(tokio::time::sleep(live.idle));
        loop {
            if let Some(end) = self.flush_outbox(&mut live).await {
                return end;
            }
            let send_at = live.send_at;
            let step = tokio::select! {
                msg = live.ws.next() => {
                    idle.as_mut().reset(Instant::now() + live.idle);
                    self.on_socket(&mut live, msg).await
                }
                cmd = self.cmd_rx.recv() => self.online_command(&mut live.ws, cmd).await,
                _ = &mut idle => Some(lost(
                    "no frame from the server within the idle timeout",
                    None,
                    Error::Timeout("a frame from the server"),
                    true,
                )),
                _ = wait_until(send_at) => None,
                t = next_token(&mut live.refresh) => {
                    live.refresh = None;
                    self.on_token(&mut live, t).await
                }
            };
            if let Some(end) = step {
                return end;
            }
        }
    }

    /// Announces the connection and sets up its timers.
    fn admitted(&mut self, ws: Ws, welcome: Welcome) -> Live {
        let idle = self.config.idle_timeout.unwrap_or_else(|| {
            let hb = welcome.heartbeat_interval_ms.unwrap_or(30_000);
            Duration::from_millis(hb.saturating_mul(2)) + Duration::from_secs(5)
        });
        self.set_state(ConnectionState::Connected {
            connection_id: welcome.connection_id,
        });
        self.emit(ClientEvent::Connected {
            welcome: welcome.frame,
        });
        Live {
            ws,
            idle,
            refresh: None,
            send_at: None,
        }
    }

    /// One message from the socket; `Some` ends the session.
    async fn on_socket(&mut self, live: &mut Live, msg: Incoming) -> Option<End> {
        let m = match msg {
            None => {
                return Some(lost(
                    "connection lost",
                    None,
                    Error::Connect("the connection ended".into()),
                    true,
                ))
            }
            Some(Err(e)) => return Some(lost_transport(e)),
            Some(Ok(m)) => m,
        };
        if let Some((code, reason)) = m.as_close() {
            let (code, reason) = (u16::from(code), reason.to_string());
            // Let the WebSocket layer finish the close handshake.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = live.ws.next().await {}
            })
            .await;
            return Some(self.server_closed(code, reason));
        }
        match frame::parse_message(&m)? {
            Ok(f) => self.handle_frame(live, f).await,
            Err(e) => {
                self.emit(ClientEvent::ClientError(e));
                None
            }
        }
    }

    /// A token from the provider (after `refresh_required`).
    async fn on_token(
        &mut self,
        live: &mut Live,
        token: std::result::Result<String, String>,
    ) -> Option<End> {
        match token {
            Ok(token) => self.send_refresh(&mut live.ws, token).await,
            Err(e) => {
                self.emit(ClientEvent::ClientError(Error::TokenProvider(e)));
                None
            }
        }
    }

    /// How a close code from the server is handled.
    fn server_closed(&self, code: u16, reason: String) -> End {
        let retry = match code {
            // Authentication: only an expired token can be replaced.
            4001 => reason.contains("expired") && self.config.token_provider.is_some(),
            // Disconnected by the server, replaced by a newer connection, or
            // our own protocol error: reconnecting cannot help.
            4009 | 4011 | 1002 | 1003 | 1007 | 1008 | 1009 => false,
            _ => true,
        };
        lost(
            &reason,
            Some(code),
            Error::ServerClosed {
                code,
                reason: reason.clone(),
            },
            retry,
        )
    }

    /// Sends what the bucket allows from the queue; when it runs dry,
    /// `send_at` tells when to go on.
    async fn flush_outbox(&mut self, live: &mut Live) -> Option<End> {
        if live.send_at.is_some_and(|t| t > Instant::now()) {
            return None;
        }
        live.send_at = None;
        while !self.outbox.is_empty() {
            if let Err(at) = self.bucket.take(Instant::now()) {
                live.send_at = Some(at);
                break;
            }
            let text = self.outbox.pop_front()?;
            let msg = frame::outgoing(text.clone(), self.config.msgpack);
            if let Err(e) = live.ws.send(msg).await {
                // Not known to be written: keep it for the next connection.
                self.outbox.push_front(text);
                return Some(lost_transport(e));
            }
        }
        None
    }

    /// Sends a frame now, ahead of the queue (it still takes a token).
    pub(crate) async fn send_control(&mut self, ws: &mut Ws, text: String) -> Option<End> {
        self.bucket.charge(Instant::now());
        ws.send(frame::outgoing(text, self.config.msgpack))
            .await
            .err()
            .map(lost_transport)
    }
}

async fn wait_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => pending().await,
    }
}

async fn next_token(refresh: &mut Option<TokenFuture>) -> std::result::Result<String, String> {
    match refresh {
        Some(f) => f.await,
        None => pending().await,
    }
}
