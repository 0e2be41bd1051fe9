//! What each server frame does to the driver's memory and the
//! application: deliveries go to their subscription (or the client-wide
//! events), replies settle the request awaiting them, control frames are
//! answered.
//!
//! Invariants: a delivery at or below its subscription's position is a
//! duplicate and is dropped; a reply whose id awaits nothing (a
//! `server_side` frame) never touches a pending request; a subscription
//! whose stream was dropped is unsubscribed at its next event.

use wavecast_protocol::to_client::SubscribeSuccess;
use wavecast_protocol::to_server::{ClientMessage, ClientRequest, RequestId};
use wavecast_protocol::ErrorCode;

use super::state::{Driver, End, Live, Pending, Ws};
use crate::error::{Error, ServerError};
use crate::event::{ClientEvent, Publication, SubEvent};
use crate::frame::ServerFrame;

impl Driver {
    /// Handles one frame; `Some` ends the session.
    pub(crate) async fn handle_frame(&mut self, live: &mut Live, f: ServerFrame) -> Option<End> {
        match f {
            ServerFrame::Publication(p) => return self.on_publication(&mut live.ws, p).await,
            ServerFrame::Dropped { channel, count, .. } => {
                let sub = self.subs.get(&channel)?;
                if sub.tx.send(SubEvent::Dropped { count }).await.is_err() {
                    return self.unsubscribe(&mut live.ws, &channel, None).await;
                }
            }
            ServerFrame::SubscribeSuccess(s) => self.on_subscribe_success(s).await,
            ServerFrame::SubscribeFailed { id, error } => {
                self.on_subscribe_failed(id.as_ref(), error.into()).await
            }
            ServerFrame::UnsubscribeSuccess { id, channels, .. } => {
                self.on_unsubscribe_success(id.as_ref(), channels).await
            }
            ServerFrame::UnsubscribeFailed { id, error } => {
                self.on_unsubscribe_failed(id.as_ref(), error.into())
            }
            ServerFrame::RecoveryRequired { channels, .. } => {
                let known: Vec<String> = channels
                    .into_iter()
                    .filter(|c| self.subs.contains_key(c))
                    .collect();
                for text in self.resubscribe_frames(&known) {
                    if let Some(end) = self.send_control(&mut live.ws, text).await {
                        return Some(end);
                    }
                }
            }
            ServerFrame::Heartbeat { .. } => {
                let pong = ClientMessage::new(ClientRequest::Pong).to_json();
                return self.send_control(&mut live.ws, pong).await;
            }
            ServerFrame::RefreshRequired { .. } => {
                if let (Some(p), None) = (&self.config.token_provider, &live.refresh) {
                    live.refresh = Some(p());
                }
            }
            ServerFrame::RefreshSuccess { .. } => self.emit(ClientEvent::Refreshed),
            ServerFrame::AuthFailed { error, .. } | ServerFrame::Error { error, .. } => {
                self.emit(ClientEvent::ServerError(error.into()))
            }
            ServerFrame::Message { event, data, .. } => {
                self.emit(ClientEvent::Message { event, data })
            }
            ServerFrame::ConnectionEstablished(_)
            | ServerFrame::AuthSuccess(_)
            | ServerFrame::Init(_)
            | ServerFrame::PublishSuccess(_)
            | ServerFrame::History(_)
            | ServerFrame::Pong { .. }
            | ServerFrame::Unknown { .. } => {}
        }
        None
    }

    /// A delivery: to its subscription once, or to the client-wide events
    /// when there is none (a server-side subscription).
    async fn on_publication(&mut self, ws: &mut Ws, p: Publication) -> Option<End> {
        let Some(sub) = self.subs.get_mut(&p.channel) else {
            self.emit(ClientEvent::Publication(p));
            return None;
        };
        if let (Some(o), Some(pos)) = (p.offset, sub.position.as_mut()) {
            if o <= pos.offset {
                // Already seen (a replay overlapping live deliveries).
                return None;
            }
            pos.offset = o;
        }
        let channel = p.channel.clone();
        if sub.tx.send(SubEvent::Publication(p)).await.is_err() {
            return self.unsubscribe(ws, &channel, None).await;
        }
        None
    }

    /// Confirms each channel the request asked for. A `subscribe_success`
    /// that answers no request (connect hook, HTTP API) changes nothing:
    /// its deliveries go to the client-wide events.
    async fn on_subscribe_success(&mut self, s: SubscribeSuccess) {
        match self.take_pending(s.id.as_ref()) {
            Some((
                _,
                Pending::Subscribe {
                    channels,
                    resubscribe,
                },
            )) => {
                for (c, from) in channels {
                    let info = s.position_of(&c);
                    self.confirm(&c, from, info, resubscribe).await;
                }
            }
            Some((id, other)) => {
                self.pending.insert(id, other);
            }
            None => {}
        }
    }

    /// Fails every channel of the request (each stream gets the error, or
    /// the waiting `subscribe` call).
    async fn on_subscribe_failed(&mut self, id: Option<&RequestId>, error: ServerError) {
        let Some((_, Pending::Subscribe { channels, .. })) = self.take_pending(id) else {
            self.emit(ClientEvent::ServerError(error));
            return;
        };
        let names: Vec<String> = channels.iter().map(|(c, _)| c.clone()).collect();
        for (c, _) in channels {
            let Some(mut sub) = self.subs.remove(&c) else {
                continue;
            };
            let err = Error::SubscribeFailed {
                channels: names.clone(),
                error: error.clone(),
            };
            match sub.waiter.take() {
                Some((reply, _)) => {
                    let _ = reply.send(Err(err));
                }
                None => {
                    let _ = sub.tx.send(SubEvent::Failed(err)).await;
                }
            }
        }
    }

    /// Answers the waiting `unsubscribe`; without one, the server ended
    /// these subscriptions (HTTP API, or a refresh whose token no longer
    /// grants the channels).
    async fn on_unsubscribe_success(&mut self, id: Option<&RequestId>, channels: Vec<String>) {
        match self.take_pending(id) {
            Some((_, Pending::Unsubscribe { reply })) => {
                if let Some(r) = reply {
                    let _ = r.send(Ok(()));
                }
            }
            Some((id, other)) => {
                self.pending.insert(id, other);
            }
            None => {
                for c in channels {
                    if let Some(sub) = self.subs.remove(&c) {
                        let ended = SubEvent::Unsubscribed { server_side: true };
                        let _ = sub.tx.send(ended).await;
                    }
                }
            }
        }
    }

    /// `not_subscribed` reaches the goal of an unsubscribe; other codes are
    /// the caller's error.
    fn on_unsubscribe_failed(&mut self, id: Option<&RequestId>, error: ServerError) {
        match self.take_pending(id) {
            Some((_, Pending::Unsubscribe { reply: Some(r) })) => {
                let _ = r.send(if error.code == ErrorCode::NotSubscribed {
                    Ok(())
                } else {
                    Err(Error::UnsubscribeFailed(error))
                });
            }
            _ => self.emit(ClientEvent::ServerError(error)),
        }
    }
}
