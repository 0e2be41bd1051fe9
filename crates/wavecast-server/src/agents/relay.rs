//! One conversation, as a task: open its source (the demo, or the
//! upstream with retries), relay each event in order, and end with
//! exactly one last frame — `agent_completed` (after a cancel too, with
//! `cancelled: true`) or an `error` — unless the connection is gone;
//! then the metrics and the audit record.
//!
//! Invariants: the run slot is given back and the connection forgets the
//! conversation *before* the last frame is queued, so a client that has
//! seen it may start another at once; a cancel or a closed connection
//! drops the upstream request, which closes its connection; every wait
//! is bounded by `agents.timeout` and `agents.idle_timeout`.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::event::{AgentEvent, EventKind};
use super::failure::Failure;
use super::outbox::Outbox;
use super::request::{key_of, shown, AgentCall};
use super::runs::{ConnRuns, RunSlot};
use super::service::AgentService;
use super::source::Source;
use super::upstream::{UpstreamClient, Who};
use crate::audit;
use crate::config::{format_duration, AgentsConfig};
use crate::conn::Connection;
use crate::state::AppState;

/// Everything a conversation's task needs.
pub struct Conversation {
    pub state: Arc<AppState>,
    pub service: Arc<AgentService>,
    pub conn: Arc<Connection>,
    pub call: AgentCall,
    pub who: Who,
    pub slot: RunSlot,
    /// Cancelled by the client's `agent_cancel`.
    pub cancel: CancellationToken,
    /// Cancelled when the connection closes.
    pub closed: CancellationToken,
    /// The connection's running conversations (this one among them).
    pub running: ConnRuns,
}

/// How a conversation ended.
enum End {
    /// With this `agent_completed`, not yet sent.
    Completed(AgentEvent),
    Cancelled,
    Failed(Failure),
    /// The connection closed: nothing more is sent.
    Closed,
}

/// Runs the conversation to its end.
pub async fn run(c: Conversation) {
    let started = Instant::now();
    let cfg = &c.state.config.agents;
    let channel = match (&c.who.user_id, cfg.fan_out_to_user) {
        (Some(user), true) => Some(format!("user:{user}")),
        _ => None,
    };
    let mut out = Outbox::new(
        c.conn.clone(),
        c.call.id.clone(),
        c.state.hub.clone(),
        c.state.metrics.clone(),
        channel,
    );
    let mut attempts = 0;
    let end = tokio::select! {
        biased;
        _ = c.closed.cancelled() => End::Closed,
        _ = c.cancel.cancelled() => End::Cancelled,
        r = drive(cfg, &c.service.client, &c.call, &c.who, &mut out, &mut attempts) => match r {
            Ok(last) => End::Completed(last),
            Err(f) => End::Failed(f),
        },
    };
    drop(c.slot);
    c.running.remove(&key_of(&c.call.id));
    let outcome = match &end {
        End::Completed(last) => {
            out.event(last).await;
            "completed"
        }
        End::Cancelled => {
            out.event(&AgentEvent::cancelled()).await;
            "cancelled"
        }
        End::Failed(f) => {
            out.error(f).await;
            f.outcome()
        }
        End::Closed => "disconnected",
    };
    let duration = started.elapsed();
    c.state.metrics.agent_request(outcome, Some(duration));
    let user = c.who.user_id.as_deref();
    audit::agent_conversation(&audit::AgentConversation {
        connection_id: &c.conn.id,
        user,
        correlation_id: &shown(&c.call.id),
        kind: c.call.ask.kind(),
        duration_seconds: duration.as_secs_f64(),
        events: out.events(),
        attempts,
        outcome,
    });
}

/// Announces the request in the user's channel, opens the source and
/// relays its events up to `agent_completed`, which it returns unsent.
async fn drive(
    cfg: &AgentsConfig,
    client: &UpstreamClient,
    call: &AgentCall,
    who: &Who,
    out: &mut Outbox,
    attempts: &mut u32,
) -> Result<AgentEvent, Failure> {
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    out.announce(&call.ask).await;
    let opened =
        tokio::time::timeout_at(deadline, Source::open(cfg, client, call, who, attempts)).await;
    let mut source = opened.map_err(|_| total_timeout(cfg))??;
    loop {
        let idle_end = tokio::time::Instant::now() + cfg.idle_timeout;
        let next = tokio::time::timeout_at(idle_end.min(deadline), source.next()).await;
        let next = match next {
            Err(_) if idle_end < deadline => return Err(idle_timeout(cfg)),
            Err(_) => return Err(total_timeout(cfg)),
            Ok(r) => r?,
        };
        let Some(event) = next else {
            return Err(Failure::Protocol(
                "the agent's answer ended without agent_completed".into(),
            ));
        };
        if event.kind == EventKind::Completed {
            return Ok(event);
        }
        out.event(&event).await;
    }
}

fn total_timeout(cfg: &AgentsConfig) -> Failure {
    Failure::Timeout(format!(
        "the conversation took longer than {} (agents.timeout)",
        format_duration(cfg.timeout)
    ))
}

fn idle_timeout(cfg: &AgentsConfig) -> Failure {
    Failure::Timeout(format!(
        "the agent sent no event for {} (agents.idle_timeout)",
        format_duration(cfg.idle_timeout)
    ))
}
