//! The channel protocol endpoint (`/ws`, `/api/ws/connect`): the handler
//! that turns client messages into hub calls — `subscribe`,
//! `unsubscribe`, `publish`, `history` — and says hello with
//! `connection_established` and keeps browsers alive with `heartbeat`.
//!
//! The replies shared with the HTTP API (publish outcome, subscribe check)
//! are built here or in [`crate::session::admission`], so both sides
//! answer alike.
//!
//! Domain parts add message types through [`ChannelExtension`]s, created
//! per connection at the upgrade: a type this handler does not know is
//! offered to each extension in turn before it is answered with
//! `unknown_type` (in the `fog` dialect it is logged and ignored, as the
//! FOG document says).

use bytes::Bytes;
use serde_json::{Map, Value};
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::json::MAX_DATA_DEPTH;
use wavecast_protocol::replies::{success_fields, MAX_HISTORY_PAGE, MAX_HISTORY_PAGE_BYTES};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::{error_fields, fields, DEFAULT_EVENT_TYPE};
use wavecast_protocol::to_server::{
    parse_request, ClientRequest, Envelope, RequestId, SubscribeOptions,
};
use wavecast_protocol::{ErrorCode, PROTOCOL_VERSION};

use crate::auth::policy::may_publish;
use crate::broker::Published;
use crate::history::StoreError;
use crate::session::admission::{check_subscribe, Requester};
use crate::session::{Handler, Session};
use crate::state::AppState;

/// The message types this handler answers itself (the session core takes
/// `init`, `auth`, `refresh`, `ping`, `pong` and `close` before it).
const CHANNEL_TYPES: &[&str] = &["subscribe", "unsubscribe", "publish", "history"];

/// What an extension did with a message it was offered.
pub enum Offer {
    /// Handled (replies, if any, are queued or will be).
    Taken,
    /// Not one of its types: given back unchanged.
    Declined(Envelope),
}

/// A per-connection extension of the channel protocol (the agent relay,
/// …). It is offered every message whose type the protocol does not
/// know, and told when the connection closes.
///
/// Invariant: `offer` and `on_close` return at once; lasting work runs in
/// tasks of the extension's own, which reply through `s.conn`.
pub trait ChannelExtension: Send + 'static {
    /// Takes `env` if its type is one of the extension's.
    fn offer(&mut self, s: &Session, env: Envelope) -> Offer;

    /// The connection is closing for `reason`: stop whatever runs for it.
    fn on_close(&mut self, s: &Session, reason: &'static str);
}

/// The handler of the channel protocol.
#[derive(Default)]
pub struct ChannelProtocol {
    /// The extensions, in one box: the usual single one costs one
    /// allocation for the life of the connection, and no list.
    extension: Option<Box<dyn ChannelExtension>>,
}

impl ChannelProtocol {
    /// The protocol with `extension` offered unknown types (after the
    /// extensions added before it).
    pub fn with(mut self, extension: impl ChannelExtension) -> ChannelProtocol {
        self.extension = Some(match self.extension.take() {
            None => Box::new(extension),
            Some(first) => Box::new(Then(first, extension)),
        });
        self
    }
}

/// Two extensions: messages are offered to the first, then the second.
struct Then<B>(Box<dyn ChannelExtension>, B);

impl<B: ChannelExtension> ChannelExtension for Then<B> {
    fn offer(&mut self, s: &Session, env: Envelope) -> Offer {
        match self.0.offer(s, env) {
            Offer::Taken => Offer::Taken,
            Offer::Declined(env) => self.1.offer(s, env),
        }
    }

    fn on_close(&mut self, s: &Session, reason: &'static str) {
        self.0.on_close(s, reason);
        self.1.on_close(s, reason);
    }
}

impl Handler for ChannelProtocol {
    async fn on_open(&mut self, s: &mut Session) {
        let user = s.conn.user_id();
        s.send(
            "connection_established",
            fields([
                ("connection_id", Value::from(&*s.conn.id)),
                ("protocol_version", Value::from(PROTOCOL_VERSION)),
                (
                    "heartbeat_interval_ms",
                    Value::from(s.state.config.heartbeat_interval.as_millis() as u64),
                ),
                ("user_id", user.map(Value::from).unwrap_or(Value::Null)),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
            None,
        );
    }

    async fn on_message(&mut self, s: &mut Session, env: Envelope) {
        let mut env = env;
        if !CHANNEL_TYPES.contains(&env.kind.as_str()) {
            if let Some(ext) = self.extension.as_mut() {
                match ext.offer(s, env) {
                    Offer::Taken => return,
                    Offer::Declined(back) => env = back,
                }
            }
        }
        let msg = match parse_request(env) {
            Ok(m) => m,
            Err(e) if e.code == ErrorCode::UnknownType && s.conn.format.dialect == Dialect::Fog => {
                // FOG: "Unknown message types logged and ignored".
                tracing::debug!(
                    kind = e.kind.as_deref().unwrap_or(""),
                    "fog: unknown message type ignored"
                );
                return;
            }
            Err(e) => {
                match e.kind.as_deref() {
                    Some(k @ ("subscribe" | "unsubscribe")) => s.send(
                        &format!("{k}_failed"),
                        error_fields(e.code, &e.message),
                        e.id.as_ref(),
                    ),
                    _ => s.send_error(e.code, &e.message, e.id.as_ref()),
                }
                return;
            }
        };
        let id = msg.id.as_ref();
        match msg.request {
            ClientRequest::Subscribe { channels, options } => {
                subscribe(s, channels, &options, id).await
            }
            ClientRequest::Unsubscribe { channels } => unsubscribe(s, channels, id),
            ClientRequest::Publish {
                channel,
                event,
                data,
            } => publish(s, &channel, event.as_deref(), &data, id).await,
            ClientRequest::History {
                channel,
                since,
                limit,
            } => history(s, &channel, since, limit, id).await,
            // The session core handles the rest before it gets here.
            _ => {}
        }
    }

    fn on_binary(&mut self, s: &mut Session, _data: Bytes) {
        s.send_error(
            ErrorCode::UnsupportedFrame,
            "binary frames are not supported; send JSON in text frames",
            None,
        );
    }

    fn keepalive(&self, s: &Session) -> Option<Bytes> {
        Some(s.conn.keepalive_frame())
    }

    fn on_close(&mut self, s: &Session, reason: &'static str) {
        if let Some(ext) = self.extension.as_mut() {
            ext.on_close(s, reason);
        }
    }
}

async fn subscribe(
    s: &Session,
    channels: Vec<String>,
    options: &SubscribeOptions,
    id: Option<&RequestId>,
) {
    if let Err(r) = check_subscribe(&s.state, &s.conn, &channels, Requester::Client) {
        s.send("subscribe_failed", error_fields(r.code, &r.message), id);
        return;
    }
    // The reply is queued before the subscription takes effect, so no
    // publication of these channels can overtake it.
    let conn = &s.conn;
    let joined = s
        .state
        .hub
        .subscribe(conn, &channels, options, |results| {
            conn.control_frame(
                "subscribe_success",
                success_fields(&channels, results, false),
                id,
            )
        })
        .await;
    if let Err(e) = joined {
        tracing::error!(error = %e, "history read failed during subscribe");
        s.send(
            "subscribe_failed",
            error_fields(
                ErrorCode::Unavailable,
                "history storage is unavailable; retry",
            ),
            id,
        );
    }
}

fn unsubscribe(s: &Session, channels: Vec<String>, id: Option<&RequestId>) {
    let missing: Vec<&String> = channels
        .iter()
        .filter(|c| !s.conn.outbound.is_subscribed(c))
        .collect();
    if !missing.is_empty() {
        s.send(
            "unsubscribe_failed",
            error_fields(
                ErrorCode::NotSubscribed,
                &format!("not subscribed to {missing:?}"),
            ),
            id,
        );
        return;
    }
    for c in &channels {
        if let Some(stats) = s.state.hub.unsubscribe(&s.conn, c) {
            crate::hub::subscription_ended(&s.conn, c, &stats, "unsubscribe");
        }
    }
    s.send(
        "unsubscribe_success",
        fields([("channels", Value::from(channels))]),
        id,
    );
}

/// The fields of a publish reply (`publish_success`, `POST /api/publish`):
/// the channel, its offset, and what is known of deliveries.
pub fn publish_reply(channel: &str, p: &Published) -> Map<String, Value> {
    let mut f = fields([("channel", Value::from(channel))]);
    if let Some(d) = p.delivered {
        f.insert("delivered".into(), Value::from(d));
    }
    if let Some(n) = p.nodes {
        f.insert("nodes".into(), Value::from(n));
    }
    if let Some(o) = p.offset {
        f.insert("offset".into(), Value::from(o));
    }
    if p.duplicate {
        f.insert("duplicate".into(), Value::from(true));
    }
    f
}

/// Refuses `data` nested deeper than the limit (the same on every path).
pub fn check_depth(state: &AppState, data: &[u8]) -> Result<(), String> {
    let max = MAX_DATA_DEPTH.min(state.config.limits.max_data_depth.max(1));
    let depth = wavecast_protocol::json::depth(data);
    if depth > max {
        return Err(format!(
            "\"data\" is nested {depth} levels deep; the limit is {max} (limits.max_data_depth)"
        ));
    }
    Ok(())
}

/// The error reply of a storage failure.
pub fn storage_error_message(e: &StoreError) -> &'static str {
    match e {
        StoreError::Timeout(_) => {
            "history storage did not answer in time; the publication may have been made: retry with the same idempotency_key"
        }
        StoreError::Full(_) => "history holds as many channels as history.max_channels allows; retry later",
        StoreError::Unavailable(m) if m == crate::history::FSYNC_FAILED => {
            "history storage could not make the publication durable (fsync failed); it may have been made: retry with the same idempotency_key once the server is back"
        }
        StoreError::Unavailable(m) if m == crate::history::STORE_STOPPED => {
            "history storage stopped after a disk error (disk full?); nothing was published; the server needs space and a restart"
        }
        _ => "history storage is unavailable; nothing was published, retry",
    }
}

async fn publish(
    s: &Session,
    channel: &str,
    event: Option<&str>,
    data: &Value,
    id: Option<&RequestId>,
) {
    let ns = s.state.config.namespace(namespace_of(channel));
    let principal = s.conn.principal.read().clone();
    if let Err(why) = may_publish(&principal, channel, ns) {
        s.send_error(ErrorCode::Forbidden, &why, id);
        return;
    }
    let data = Bytes::from(data.to_string());
    if let Err(why) = check_depth(&s.state, &data) {
        s.send_error(ErrorCode::InvalidField, &why, id);
        return;
    }
    let event = event.unwrap_or(DEFAULT_EVENT_TYPE);
    match s.state.hub.publish(channel, event, data, None).await {
        Ok(p) => s.send("publish_success", publish_reply(channel, &p), id),
        Err(e) => {
            tracing::error!(error = %e, "publish failed");
            s.send_error(ErrorCode::Unavailable, storage_error_message(&e), id);
        }
    }
}

async fn history(
    s: &Session,
    channel: &str,
    since: Option<u64>,
    limit: Option<usize>,
    id: Option<&RequestId>,
) {
    let principal = s.conn.principal.read().clone();
    let ns = s.state.config.namespace(namespace_of(channel));
    if let Err(why) = crate::auth::policy::may_subscribe(&principal, channel, ns) {
        s.send_error(ErrorCode::Forbidden, &why, id);
        return;
    }
    if s.conn.outbound.history_queued() {
        s.state.metrics.limit_rejections("history_in_flight");
        s.send_error(
            ErrorCode::RateLimited,
            "one history page at a time: read the previous reply first",
            id,
        );
        return;
    }
    let limit = limit.unwrap_or(MAX_HISTORY_PAGE).min(MAX_HISTORY_PAGE);
    let read = s
        .state
        .hub
        .history(channel, since, limit, MAX_HISTORY_PAGE_BYTES)
        .await;
    let frame = match read {
        Ok(Some((top, pubs))) => {
            s.conn
                .format
                .history(channel, Some((top.offset, &top.epoch)), &pubs, id)
        }
        Ok(None) => s.conn.format.history(channel, None, &[], id),
        Err(e) => {
            tracing::error!(error = %e, "history read failed");
            s.send_error(
                ErrorCode::Unavailable,
                "history storage is unavailable; retry",
                id,
            );
            return;
        }
    };
    s.conn.outbound.push_history(frame);
}
