//! The agent relay's face on a connection: the channel protocol's
//! extension that takes `user_message`, `agent_request` and
//! `agent_cancel`, starts each conversation as a task of its own, and
//! cancels them all when the connection closes.
//!
//! Invariants: a refused request (bad fields, a correlation id already
//! running, a limit) gets its `error` at once and starts nothing; with
//! `agents.upstream_url` empty the agent types get `unknown_type`, as
//! before the relay existed; an `agent_cancel` for a conversation that
//! is not running is ignored (it has ended, and its last frame is sent).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use wavecast_protocol::to_server::Envelope;
use wavecast_protocol::ErrorCode;

use super::relay::{self, Conversation};
use super::request::{self, key_of, shown, AgentCall, AgentMessage, AGENT_TYPES};
use super::runs::ConnRuns;
use super::service::AgentService;
use super::upstream::{allowed_claims, Who};
use crate::audit;
use crate::channels::{ChannelExtension, Offer};
use crate::session::Session;

/// One connection's agent conversations.
pub struct AgentExtension {
    service: Arc<AgentService>,
    /// The conversations running on this connection, and the token that
    /// ends them when it closes: made at the first request, so a
    /// connection that never talks to an agent pays nothing for them.
    running: Option<ConnRuns>,
    closed: Option<CancellationToken>,
}

impl AgentExtension {
    pub fn new(service: Arc<AgentService>) -> AgentExtension {
        AgentExtension {
            service,
            running: None,
            closed: None,
        }
    }

    fn start(&mut self, s: &Session, call: AgentCall) {
        let cfg = &s.state.config.agents;
        let key = key_of(&call.id);
        if self.running.as_ref().is_some_and(|r| r.contains(&key)) {
            s.send_error(
                ErrorCode::InvalidField,
                "a conversation with this correlation_id is running; use a new one",
                Some(&call.id),
            );
            return;
        }
        let principal = s.conn.principal.read().clone();
        // Connections without a user id (and applications on an API key)
        // are limited one by one.
        let limited_as = match (&principal.user_id, principal.via_api_key) {
            (Some(user), false) => format!("user:{user}"),
            _ => format!("connection:{}", s.conn.id),
        };
        let runs = &self.service.runs;
        let slot = match runs.try_start(&limited_as, cfg.max_per_user, cfg.max_running) {
            Ok(slot) => slot,
            Err(refusal) => {
                s.state.metrics.limit_rejections(refusal.label());
                s.state.metrics.agent_request("too_many_requests", None);
                audit::agent_conversation(&audit::AgentConversation {
                    connection_id: &s.conn.id,
                    user: principal.user_id.as_deref(),
                    correlation_id: &shown(&call.id),
                    kind: call.ask.kind(),
                    duration_seconds: 0.0,
                    events: 0,
                    attempts: 0,
                    outcome: "too_many_requests",
                });
                s.send_error(
                    ErrorCode::TooManyRequests,
                    &refusal.message(),
                    Some(&call.id),
                );
                return;
            }
        };
        let cancel = CancellationToken::new();
        let running = self.running.get_or_insert_with(ConnRuns::default).clone();
        running.insert(key, cancel.clone());
        let closed = self
            .closed
            .get_or_insert_with(CancellationToken::new)
            .clone();
        let who = Who {
            user_id: principal.user_id.clone(),
            claims: allowed_claims(&principal.claims.value(), &cfg.forward_claims),
            connection_id: s.conn.id.to_string(),
        };
        s.state.sessions.spawn(relay::run(Conversation {
            state: s.state.clone(),
            service: self.service.clone(),
            conn: s.conn.clone(),
            call,
            who,
            slot,
            cancel,
            closed,
            running,
        }));
    }
}

impl ChannelExtension for AgentExtension {
    fn offer(&mut self, s: &Session, env: Envelope) -> Offer {
        if !AGENT_TYPES.contains(&env.kind.as_str()) {
            return Offer::Declined(env);
        }
        if s.state.config.agents.upstream_url.is_empty() {
            s.send_error(
                ErrorCode::UnknownType,
                &format!(
                    "{:?} needs the agent relay, which is off on this server ([agents] upstream_url is empty)",
                    env.kind
                ),
                env.id.as_ref(),
            );
            return Offer::Taken;
        }
        match request::parse(env) {
            Err(e) => s.send_error(e.code, &e.message, e.id.as_ref()),
            Ok(AgentMessage::Cancel(id)) => {
                if let Some(r) = &self.running {
                    r.cancel(&key_of(&id));
                }
            }
            Ok(AgentMessage::Call(call)) => self.start(s, call),
        }
        Offer::Taken
    }

    fn on_close(&mut self, _s: &Session, _reason: &'static str) {
        if let Some(c) = &self.closed {
            c.cancel();
        }
    }
}
