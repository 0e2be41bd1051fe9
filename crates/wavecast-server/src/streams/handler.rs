//! [`StreamsHandler`]: the session handler of the stream endpoints —
//! `subscribe` {stream_type, stream_id, params} starts a stream within the
//! per-connection and per-process limits, `unsubscribe` {stream_id} or a
//! disconnect stops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Map, Value};
use wavecast_protocol::to_client::fields;
use wavecast_protocol::to_server::{Envelope, RequestId};
use wavecast_protocol::ErrorCode;

use super::errors::stream_error_fields;
use super::slots::{end_record, queue_key, ConnStreams, StreamCounter, StreamHandle, StreamSlot};
use super::{params, run};
use crate::session::{Handler, Session};

/// Which stream endpoint a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEndpoint {
    /// `/ws/stream_features`.
    Features,
    /// `/ws/simulation_live`.
    Simulation,
    /// `/ws/heartbeat`: auth and heartbeat only.
    Heartbeat,
}

impl StreamEndpoint {
    fn stream_type(self) -> &'static str {
        match self {
            StreamEndpoint::Features => "stream_features",
            StreamEndpoint::Simulation => "simulation_live",
            StreamEndpoint::Heartbeat => "",
        }
    }

    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            StreamEndpoint::Features => "/ws/stream_features",
            StreamEndpoint::Simulation => "/ws/simulation_live",
            StreamEndpoint::Heartbeat => "/ws/heartbeat",
        }
    }
}

/// The handler of one stream-endpoint connection.
pub struct StreamsHandler {
    endpoint: StreamEndpoint,
    streams: Arc<ConnStreams>,
    counter: Arc<StreamCounter>,
}

impl StreamsHandler {
    pub fn new(endpoint: StreamEndpoint, counter: Arc<StreamCounter>) -> StreamsHandler {
        StreamsHandler {
            endpoint,
            streams: Arc::default(),
            counter,
        }
    }
}

impl Handler for StreamsHandler {
    async fn on_open(&mut self, _s: &mut Session) {}

    async fn on_message(&mut self, s: &mut Session, env: Envelope) {
        let Envelope { kind, id, fields } = env;
        match kind.as_str() {
            "subscribe" => self.subscribe(s, fields, id.as_ref()),
            "unsubscribe" => self.unsubscribe(s, fields, id.as_ref()),
            other => {
                let shown: String = other.chars().take(64).collect();
                s.send_error(
                    ErrorCode::UnknownType,
                    &format!("unknown message type {shown:?} on a stream endpoint; known: init, auth, subscribe, unsubscribe, ping, pong, close"),
                    id.as_ref(),
                );
            }
        }
    }

    fn on_binary(&mut self, s: &mut Session, _data: Bytes) {
        s.send_error(
            ErrorCode::UnsupportedFrame,
            "binary frames are not supported; send JSON in text frames",
            None,
        );
    }

    fn speaks_before_init(&self) -> bool {
        false
    }

    fn keepalive(&self, s: &Session) -> Option<Bytes> {
        Some(s.conn.keepalive_frame())
    }

    fn on_close(&mut self, s: &Session, reason: &'static str) {
        for (id, h) in self.streams.running.lock().drain() {
            h.cancel.store(true, Ordering::Release);
            end_record(&s.conn, &id, &h, reason);
        }
    }
}

fn failed(code: ErrorCode, message: &str, stream_id: Option<&str>) -> Map<String, Value> {
    let mut f = stream_error_fields(code, message);
    if let Some(sid) = stream_id {
        f.insert("stream_id".into(), Value::from(sid));
    }
    f
}

impl StreamsHandler {
    /// `subscribe` {stream_type, stream_id, params}.
    fn subscribe(&mut self, s: &Session, mut obj: Map<String, Value>, id: Option<&RequestId>) {
        let reply = |f| s.send("subscribe_failed", f, id);
        if self.endpoint == StreamEndpoint::Heartbeat {
            return reply(failed(
                ErrorCode::Forbidden,
                "/ws/heartbeat carries no streams; use /ws/stream_features or /ws/simulation_live",
                None,
            ));
        }
        let stream_id = match obj.remove("stream_id") {
            Some(Value::String(sid)) if params::valid_stream_id(&sid) => sid,
            _ => {
                return reply(failed(
                    ErrorCode::InvalidField,
                    "stream_id: 1-64 letters, digits and _ - . : are required",
                    None,
                ))
            }
        };
        let sid = Some(stream_id.as_str());
        let plan = match self.plan(s, &mut obj) {
            Ok(p) => p,
            Err(message) => return reply(failed(ErrorCode::InvalidField, &message, sid)),
        };
        let slot = match self.admit(s, &stream_id) {
            Ok(slot) => slot,
            Err((code, message)) => return reply(failed(code, &message, sid)),
        };
        self.start(s, stream_id, plan, slot, id);
    }

    /// Parses `stream_type` and `params`.
    fn plan(&self, s: &Session, obj: &mut Map<String, Value>) -> Result<run::Plan, String> {
        match obj.remove("stream_type") {
            Some(Value::String(t)) if t == self.endpoint.stream_type() => {}
            other => {
                let got = other.map_or_else(|| "nothing".into(), |v| v.to_string());
                return Err(format!(
                    "stream_type: this endpoint serves {:?}, got {got}",
                    self.endpoint.stream_type()
                ));
            }
        }
        let raw = match obj.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err("params: must be an object".into()),
        };
        let cfg = &s.state.config.streams;
        match self.endpoint {
            StreamEndpoint::Features => {
                params::features(raw, cfg.max_grid_size).map(run::Plan::Features)
            }
            _ => {
                params::simulation(raw, cfg.max_grid_size, cfg.max_steps).map(run::Plan::Simulation)
            }
        }
    }

    /// The per-connection and per-process limits.
    fn admit(&self, s: &Session, stream_id: &str) -> Result<StreamSlot, (ErrorCode, String)> {
        let cfg = &s.state.config.streams;
        if self.streams.count() >= cfg.max_per_connection {
            s.state.metrics.limit_rejections("streams_per_connection");
            return Err((
                ErrorCode::TooManyStreams,
                format!(
                    "this connection already runs {} streams",
                    cfg.max_per_connection
                ),
            ));
        }
        if self.streams.running.lock().contains_key(stream_id) {
            return Err((
                ErrorCode::InvalidField,
                "stream_id: a stream with this id is already running".into(),
            ));
        }
        self.counter.try_take(cfg.max_running).ok_or_else(|| {
            s.state.metrics.limit_rejections("streams_per_server");
            (
                ErrorCode::TooManyStreams,
                format!(
                    "the server already runs {} streams; retry later",
                    cfg.max_running
                ),
            )
        })
    }

    fn start(
        &mut self,
        s: &Session,
        stream_id: String,
        plan: run::Plan,
        slot: StreamSlot,
        id: Option<&RequestId>,
    ) {
        s.conn
            .outbound
            .add_sub(queue_key(&stream_id).as_str().into());
        let cancel = Arc::new(AtomicBool::new(false));
        self.streams.running.lock().insert(
            stream_id.clone(),
            StreamHandle {
                cancel: cancel.clone(),
                started: Instant::now(),
                stream_type: self.endpoint.stream_type(),
            },
        );
        crate::audit::stream_started(&s.conn.id, &stream_id, self.endpoint.stream_type());
        s.send(
            "subscribe_success",
            fields([
                ("stream_id", Value::from(stream_id.as_str())),
                ("stream_type", Value::from(self.endpoint.stream_type())),
                ("params", plan.echo()),
            ]),
            id,
        );
        let ctx = run::StreamCtx {
            conn: s.conn.clone(),
            streams: self.streams.clone(),
            policy: s.state.config.namespace("stream").clone(),
            stream_id,
            cancel,
            _slot: slot,
        };
        run::spawn(self.counter.pool(&s.state.config.streams), ctx, plan);
    }

    /// `unsubscribe` {stream_id}.
    fn unsubscribe(&mut self, s: &Session, mut obj: Map<String, Value>, id: Option<&RequestId>) {
        let Some(Value::String(stream_id)) = obj.remove("stream_id") else {
            s.send(
                "unsubscribe_failed",
                stream_error_fields(ErrorCode::InvalidField, "stream_id is required"),
                id,
            );
            return;
        };
        let handle = self.streams.running.lock().remove(&stream_id);
        match handle {
            Some(h) => {
                h.cancel.store(true, Ordering::Release);
                end_record(&s.conn, &stream_id, &h, "unsubscribe");
                s.send(
                    "unsubscribe_success",
                    fields([("stream_id", Value::from(stream_id))]),
                    id,
                );
            }
            None => s.send(
                "unsubscribe_failed",
                stream_error_fields(
                    ErrorCode::NotSubscribed,
                    &format!("no running stream {stream_id:?}"),
                ),
                id,
            ),
        }
    }
}
