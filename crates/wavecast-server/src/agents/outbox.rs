//! A conversation's frames: each event goes to the asking connection
//! with the request's `correlation_id` and the next `seq`; with
//! `agents.fan_out_to_user` the same goes into the user's `user:<id>`
//! channel (through the hub, so it is kept for recovery), opened by the
//! user's request itself.
//!
//! Invariants: `seq` starts at 1 and grows by one per event, in the order
//! sent; an event's publication is made before the next event is sent,
//! so the channel holds the conversation in order too; a failed
//! publication is logged and never stops the conversation.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::fields;
use wavecast_protocol::to_server::RequestId;

use super::event::AgentEvent;
use super::failure::Failure;
use super::request::Ask;
use crate::conn::Connection;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// The event type of a failed conversation in the user's channel.
pub const ERROR_EVENT: &str = "agent_error";

/// Sends one conversation's frames.
pub struct Outbox {
    conn: Arc<Connection>,
    id: RequestId,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    /// The user's channel, with fan-out.
    channel: Option<String>,
    seq: u64,
}

impl Outbox {
    pub fn new(
        conn: Arc<Connection>,
        id: RequestId,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        channel: Option<String>,
    ) -> Outbox {
        Outbox {
            conn,
            id,
            hub,
            metrics,
            channel,
            seq: 0,
        }
    }

    /// Events sent so far.
    pub fn events(&self) -> u64 {
        self.seq
    }

    /// Publishes the user's request into the user's channel (`seq` 0).
    pub async fn announce(&self, ask: &Ask) {
        self.publish(ask.kind(), 0, Value::Object(ask.fields()))
            .await;
    }

    /// Sends `event` (and publishes it).
    pub async fn event(&mut self, event: &AgentEvent) {
        self.seq += 1;
        let kind = event.kind.as_str();
        self.conn.send(
            kind,
            fields([
                ("seq", Value::from(self.seq)),
                ("data", event.data.clone()),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
            Some(&self.id),
        );
        self.metrics.agent_event(kind);
        self.publish(kind, self.seq, event.data.clone()).await;
    }

    /// Sends the `error` frame that ends a failed conversation (and
    /// publishes it as `agent_error`).
    pub async fn error(&self, failure: &Failure) {
        let code = failure.code();
        self.conn
            .send_error(code, failure.message(), Some(&self.id));
        let mut data = Map::new();
        data.insert("code".into(), Value::from(code.as_str()));
        data.insert("error".into(), Value::from(failure.message()));
        data.insert("recoverable".into(), Value::from(code.recoverable()));
        self.publish(ERROR_EVENT, self.seq + 1, Value::Object(data))
            .await;
    }

    async fn publish(&self, kind: &str, seq: u64, data: Value) {
        let Some(channel) = &self.channel else { return };
        let body = fields([
            ("correlation_id", self.id.value.clone()),
            ("seq", Value::from(seq)),
            ("connection_id", Value::from(&*self.conn.id)),
            ("data", data),
        ]);
        let text = Bytes::from(Value::Object(body).to_string());
        if let Err(e) = self.hub.publish(channel, kind, text, None).await {
            tracing::warn!(error = %e, channel = %channel, "agent event not published to the user's channel");
        }
    }
}
