//! Where a conversation's events come from — the demo agent or the
//! upstream's answer — behind one `next()`.
//!
//! Invariant: an upstream payload becomes an event only if it reads as
//! one (see [`super::event`]); an `error` event becomes `agent_rejected`,
//! anything malformed `agent_protocol_error` naming the event's number.

use super::demo::DemoStream;
use super::event::{interpret, AgentEvent, Item};
use super::failure::Failure;
use super::request::AgentCall;
use super::upstream::{self, clean, HttpStream, UpstreamClient, Who};
use crate::config::{AgentsConfig, DEMO_AGENT};

/// A conversation's events.
pub enum Source {
    Demo(DemoStream),
    Http {
        stream: HttpStream,
        /// Events read so far.
        read: u64,
    },
}

impl Source {
    /// Starts the conversation: the demo, or the upstream call (with its
    /// retries, counted in `attempts`).
    pub async fn open(
        cfg: &AgentsConfig,
        client: &UpstreamClient,
        call: &AgentCall,
        who: &Who,
        attempts: &mut u32,
    ) -> Result<Source, Failure> {
        if cfg.upstream_url == DEMO_AGENT {
            return Ok(Source::Demo(DemoStream::new(&call.ask)));
        }
        let stream = upstream::open(cfg, client, upstream::body(call, who), attempts).await?;
        Ok(Source::Http { stream, read: 0 })
    }

    /// The next event; `None` when the source ended.
    pub async fn next(&mut self) -> Result<Option<AgentEvent>, Failure> {
        match self {
            Source::Demo(d) => Ok(d.next().await),
            Source::Http { stream, read } => {
                let Some(p) = stream.next().await? else {
                    return Ok(None);
                };
                *read += 1;
                match interpret(&p.text, p.name.as_deref()) {
                    Ok(Item::Event(e)) => Ok(Some(e)),
                    Ok(Item::Error(m)) => Err(Failure::Rejected(clean(&m))),
                    Err(why) => Err(Failure::Protocol(format!("the agent's event {read} {why}"))),
                }
            }
        }
    }
}
