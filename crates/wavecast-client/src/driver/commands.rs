//! The handles' commands, offline (between connections) and online.
//!
//! Invariants: offline, a subscribe is registered and answered at once
//! (it is sent on connect), an unsubscribe just forgets, and frames go to
//! the queue; online, a subscribe is answered by the server's reply (see
//! `dispatch`), an unsubscribe waits for `unsubscribe_success`, and an
//! unsubscribe from a stale handle (another `key`) changes nothing.

use std::time::Duration;

use futures_util::SinkExt;

use tokio::sync::oneshot;
use wavecast_protocol::to_server::{ClientMessage, ClientRequest};

use super::state::{Driver, End, Pending, Ws};
use crate::command::{Command, SubscribeAnswer, SubscribeOptions};
use crate::error::{Error, Result};

impl Driver {
    /// Handles a command while there is no connection. False: stop.
    pub(crate) fn offline_command(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            None => false,
            Some(Command::Close { reply }) => {
                self.close_reply = Some(reply);
                false
            }
            Some(Command::Subscribe {
                channel,
                options,
                reply,
            }) => {
                let _ = reply.send(match self.register(&channel, options) {
                    Some((key, rx)) => Ok((key, rx, None)),
                    None => Err(Error::AlreadySubscribed(channel)),
                });
                true
            }
            Some(Command::Unsubscribe {
                channel,
                key,
                reply,
            }) => {
                if self.subs.get(&channel).is_some_and(|s| s.key == key) {
                    self.subs.remove(&channel);
                }
                if let Some(r) = reply {
                    let _ = r.send(Ok(()));
                }
                true
            }
            Some(Command::Send { text, reply }) => {
                let _ = reply.send(self.enqueue(text));
                true
            }
            Some(Command::Refresh { token }) => {
                self.token = Some(token);
                true
            }
        }
    }

    /// Handles a command on an admitted connection; `Some` ends the session.
    pub(crate) async fn online_command(
        &mut self,
        ws: &mut Ws,
        cmd: Option<Command>,
    ) -> Option<End> {
        match cmd {
            None => Some(close(ws).await),
            Some(Command::Close { reply }) => {
                self.close_reply = Some(reply);
                Some(close(ws).await)
            }
            Some(Command::Send { text, reply }) => {
                let _ = reply.send(self.enqueue(text));
                None
            }
            Some(Command::Refresh { token }) => self.send_refresh(ws, token).await,
            Some(Command::Subscribe {
                channel,
                options,
                reply,
            }) => self.subscribe_online(ws, channel, options, reply).await,
            Some(Command::Unsubscribe {
                channel,
                key,
                reply,
            }) => {
                if self.subs.get(&channel).is_none_or(|s| s.key != key) {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                    return None;
                }
                self.unsubscribe(ws, &channel, reply).await
            }
        }
    }

    /// Registers the subscription and sends its request; the reply is
    /// answered when the server's comes.
    async fn subscribe_online(
        &mut self,
        ws: &mut Ws,
        channel: String,
        options: SubscribeOptions,
        reply: oneshot::Sender<SubscribeAnswer>,
    ) -> Option<End> {
        let Some((_, rx)) = self.register(&channel, options) else {
            let _ = reply.send(Err(Error::AlreadySubscribed(channel)));
            return None;
        };
        if let Some(sub) = self.subs.get_mut(&channel) {
            sub.waiter = Some((reply, rx));
        }
        let text = self.first_subscribe_frame(&channel)?;
        self.send_control(ws, text).await
    }

    /// Forgets the subscription and asks the server to end it.
    pub(crate) async fn unsubscribe(
        &mut self,
        ws: &mut Ws,
        channel: &str,
        reply: Option<oneshot::Sender<Result<()>>>,
    ) -> Option<End> {
        self.subs.remove(channel);
        let text = self.request(
            ClientRequest::Unsubscribe {
                channels: vec![channel.to_string()],
            },
            Pending::Unsubscribe { reply },
        );
        self.send_control(ws, text).await
    }

    /// Sends `refresh` with `token`, which is also used on reconnect.
    pub(crate) async fn send_refresh(&mut self, ws: &mut Ws, token: String) -> Option<End> {
        self.token = Some(token.clone());
        let text = ClientMessage::new(ClientRequest::Refresh { token }).to_json();
        self.send_control(ws, text).await
    }
}

/// Sends a close frame and reads until the server's close (discarding what
/// comes meanwhile), for at most 3 s.
async fn close(ws: &mut Ws) -> End {
    let _ = tokio::time::timeout(Duration::from_secs(3), ws.close()).await;
    End::Stop
}
