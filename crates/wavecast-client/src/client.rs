//! The application's handle: [`Client`] (cheap to clone) and
//! [`Subscription`] (a `Stream` of [`SubEvent`]s). Both talk to one
//! background task per client (see `driver`), which owns the socket,
//! through [`Command`]s.
//!
//! Invariants: a handle never touches the socket; every wait on the driver
//! is bounded (`request_timeout`, or fixed bounds for unsubscribe and
//! close); a dropped [`Subscription`] unsubscribes, a dropped
//! [`CallbackHandle`] stops its task, and dropping every [`Client`] clone
//! closes the connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use wavecast_protocol::to_server::{ClientMessage, ClientRequest};

use crate::command::{Command, SubscribeOptions};
use crate::config::ClientConfig;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::event::{ClientEvent, ConnectionState, SubEvent, Subscribed};

/// A connection to a wavecast server that reconnects by itself.
///
/// Dropping every clone closes the connection. Must be created inside a
/// tokio runtime.
#[derive(Clone)]
pub struct Client {
    cmd: mpsc::Sender<Command>,
    state: watch::Receiver<ConnectionState>,
    events: broadcast::Sender<ClientEvent>,
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts the client; it connects in the background. See
    /// [`Client::connect`] to wait for the connection.
    pub fn start(config: ClientConfig) -> Result<Client> {
        Self::start_with_events(config).map(|(c, _)| c)
    }

    /// Like [`Client::start`], with a stream of every event from the very
    /// first (`events()` called later may miss the first connection).
    pub fn start_with_events(
        config: ClientConfig,
    ) -> Result<(Client, impl Stream<Item = ClientEvent> + Send + 'static)> {
        config.validate()?;
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting);
        let (events_tx, _) = broadcast::channel(1024);
        let client = Client {
            cmd: cmd_tx,
            state: state_rx,
            events: events_tx.clone(),
            request_timeout: config.request_timeout,
            connect_timeout: config.connect_timeout,
        };
        let events = event_stream(events_tx.subscribe());
        let driver = Driver::new(config, cmd_rx, state_tx, events_tx);
        tokio::spawn(driver.run());
        Ok((client, events))
    }

    /// Starts the client and waits until it is connected (retrying
    /// transient failures per the backoff policy) for at most the
    /// configured `connect_timeout`.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let client = Client::start(config)?;
        client.wait_connected(client.connect_timeout).await?;
        Ok(client)
    }

    /// Waits until the client is connected. Fails with the error that
    /// closed it, or [`Error::Timeout`].
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.state.clone();
        let wait = async {
            loop {
                match &*rx.borrow_and_update() {
                    ConnectionState::Connected { .. } => return Ok(()),
                    ConnectionState::Closed(e) => return Err(e.clone().unwrap_or(Error::Closed)),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout("the connection"))?
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A receiver of state changes (it sees the latest state, and may skip
    /// intermediate ones; [`Client::events`] has them all).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Connection-wide events from now on. A receiver that falls more than
    /// 1024 events behind skips the oldest.
    pub fn events(&self) -> impl Stream<Item = ClientEvent> + Send + 'static {
        event_stream(self.events.subscribe())
    }

    /// Subscribes to `channel`.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.subscribe_with(channel, SubscribeOptions::default())
            .await
    }

    /// Subscribes to `channel` with options. When connected, waits for the
    /// server's answer (an error if it refuses); when offline, registers the
    /// subscription and returns at once: it is sent on connect, and its
    /// outcome is the stream's first event.
    ///
    /// The subscription's events are buffered up to
    /// `subscription_buffer`; beyond that the client stops reading the
    /// socket until the application catches up, so keep consuming every
    /// subscription.
    pub async fn subscribe_with(
        &self,
        channel: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription> {
        // The driver creates the event channel and hands its receiver back
        // with the answer.
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(Command::Subscribe {
                channel: channel.to_string(),
                options,
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        let (key, events, first) = tokio::time::timeout(self.request_timeout, answer)
            .await
            .map_err(|_| Error::Timeout("the subscribe reply"))?
            .map_err(|_| Error::Closed)??;
        Ok(Subscription {
            channel: channel.to_string(),
            key,
            events,
            cmd: self.cmd.clone(),
            confirmed: first,
            ended: false,
        })
    }

    /// Subscribes and calls `f` with every event of the subscription on a
    /// task of its own. Dropping the returned handle ends the subscription.
    pub async fn subscribe_callback<F>(
        &self,
        channel: &str,
        options: SubscribeOptions,
        mut f: F,
    ) -> Result<CallbackHandle>
    where
        F: FnMut(SubEvent) + Send + 'static,
    {
        let mut sub = self.subscribe_with(channel, options).await?;
        if let Some(first) = sub.confirmed.clone() {
            f(SubEvent::Subscribed(first));
        }
        let task = tokio::spawn(async move {
            while let Some(ev) = sub.next().await {
                f(ev);
            }
        });
        Ok(CallbackHandle { task })
    }

    /// Queues a raw client frame (a JSON object with a `type`). It is sent
    /// at once when connected, or on reconnect, in order with every other
    /// queued frame.
    pub async fn send(&self, frame: Value) -> Result<()> {
        let text = serde_json::to_string(&frame)
            .map_err(|e| Error::InvalidConfig(format!("cannot encode the frame: {e}")))?;
        self.send_text(text).await
    }

    /// Queues a typed client message (see [`Client::send`]), e.g. a
    /// `history` request. (Agent messages go through [`Client::send`] with
    /// [`AgentMessage::to_value`](wavecast_protocol::to_server::AgentMessage::to_value).)
    pub async fn send_message(&self, message: &ClientMessage) -> Result<()> {
        self.send_text(message.to_json()).await
    }

    async fn send_text(&self, text: String) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(Command::Send { text, reply })
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Publishes over the WebSocket (allowed only where the namespace's
    /// `publish` policy lets this connection publish; for server-side
    /// publishing use [`crate::HttpApi`]).
    pub async fn publish(&self, channel: &str, event: Option<&str>, data: Value) -> Result<()> {
        let message = ClientMessage::new(ClientRequest::Publish {
            channel: channel.to_string(),
            event: event.map(String::from),
            data,
        });
        self.send_message(&message).await
    }

    /// Sends `refresh` with a new token now (normally the client does this
    /// itself on `refresh_required` when it has a token provider).
    pub async fn refresh(&self, token: &str) -> Result<()> {
        self.cmd
            .send(Command::Refresh {
                token: token.to_string(),
            })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Closes the connection and stops reconnecting. Messages still in the
    /// offline queue are discarded.
    pub async fn close(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self.cmd.send(Command::Close { reply }).await.is_err() {
            return Ok(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), answer).await;
        Ok(())
    }
}

fn event_stream(
    rx: broadcast::Receiver<ClientEvent>,
) -> impl Stream<Item = ClientEvent> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => return Some((ev, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// One subscription: a `Stream` of [`SubEvent`]s in delivery order. It ends
/// after [`SubEvent::Failed`] or [`SubEvent::Unsubscribed`]. Dropping it
/// unsubscribes.
pub struct Subscription {
    channel: String,
    key: u64,
    events: mpsc::Receiver<SubEvent>,
    cmd: mpsc::Sender<Command>,
    confirmed: Option<Subscribed>,
    ended: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The server's confirmation, when the client was connected at
    /// subscribe time (it is then not repeated in the stream).
    pub fn confirmed(&self) -> Option<&Subscribed> {
        self.confirmed.as_ref()
    }

    /// Unsubscribes and waits for the server's answer.
    pub async fn unsubscribe(mut self) -> Result<()> {
        self.ended = true;
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(Command::Unsubscribe {
                channel: self.channel.clone(),
                key: self.key,
                reply: Some(reply),
            })
            .await
            .map_err(|_| Error::Closed)?;
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .map_err(|_| Error::Timeout("the unsubscribe reply"))?
            .map_err(|_| Error::Closed)?
    }
}

impl Stream for Subscription {
    type Item = SubEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SubEvent>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.ended {
            // Best effort: if the command queue is full, the driver notices
            // the dropped receiver at the next delivery.
            let _ = self.cmd.try_send(Command::Unsubscribe {
                channel: self.channel.clone(),
                key: self.key,
                reply: None,
            });
        }
    }
}

/// The task behind [`Client::subscribe_callback`]. Dropping it (or calling
/// [`CallbackHandle::cancel`]) ends the subscription.
pub struct CallbackHandle {
    task: tokio::task::JoinHandle<()>,
}

impl CallbackHandle {
    pub fn cancel(self) {}

    /// Waits until the subscription ends by itself.
    pub async fn finished(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for CallbackHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
