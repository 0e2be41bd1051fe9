//! Subscribe requests and what their answers mean. A subscription's first
//! request asks for the recovery the application gave (`recover_from`,
//! `since`) or a snapshot; after a reconnect or a `recovery_required`,
//! every confirmed channel is asked again from its last position, batched
//! by filter, at most [`RESUBSCRIBE_BATCH`] channels per request.
//!
//! Invariants: the application learns how each (re)subscription resumed
//! ([`Recovery`]) — recovered without gap, failed (publications were
//! missed: [`ClientEvent::RecoveryFailed`] too), or impossible (no
//! history); after a recovery the position stays at the asked offset, so
//! replayed publications advance it and nothing is counted twice.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use wavecast_protocol::to_client::ChannelPosition;
use wavecast_protocol::to_server::{ClientRequest, StreamPosition, SubscribeOptions};

use super::state::{Driver, Pending};
use crate::event::{ClientEvent, Position, Recovery, SubEvent, Subscribed};

/// Channels per `subscribe` when resubscribing.
const RESUBSCRIBE_BATCH: usize = 100;

/// A filter (absent: none).
type Filter = Option<Map<String, Value>>;

fn stream_position(p: &Position) -> StreamPosition {
    StreamPosition {
        offset: p.offset,
        epoch: Some(p.epoch.clone()),
    }
}

impl Driver {
    /// The subscribe request of one channel that was never confirmed.
    pub(crate) fn first_subscribe_frame(&mut self, channel: &str) -> Option<String> {
        let sub = self.subs.get(channel)?;
        let mut options = SubscribeOptions {
            filter: sub.options.filter.clone(),
            ..SubscribeOptions::default()
        };
        let from = if let Some(p) = &sub.options.recover_from {
            options
                .recover
                .insert(channel.to_string(), stream_position(p));
            Some(p.clone())
        } else if let Some(offset) = sub.options.since {
            // Any epoch: what `since` means.
            let any = StreamPosition {
                offset,
                epoch: None,
            };
            options.recover.insert(channel.to_string(), any);
            Some(Position {
                offset,
                epoch: String::new(),
            })
        } else {
            options.snapshot = sub.options.snapshot;
            None
        };
        let request = ClientRequest::Subscribe {
            channels: vec![channel.to_string()],
            options,
        };
        let pending = Pending::Subscribe {
            channels: vec![(channel.to_string(), from)],
            resubscribe: false,
        };
        Some(self.request(request, pending))
    }

    /// The requests that subscribe `channels` again, each recovering from
    /// its last position, batched by filter.
    pub(crate) fn resubscribe_frames(&mut self, channels: &[String]) -> Vec<String> {
        let mut groups: BTreeMap<String, (Filter, Vec<String>)> = BTreeMap::new();
        let mut out = Vec::new();
        for c in channels {
            let Some(sub) = self.subs.get(c) else {
                continue;
            };
            if !sub.confirmed_once {
                out.extend(self.first_subscribe_frame(c));
                continue;
            }
            let filter = sub.options.filter.clone();
            let key = filter
                .as_ref()
                .map(|f| Value::Object(f.clone()).to_string())
                .unwrap_or_default();
            let group = groups.entry(key).or_insert_with(|| (filter, Vec::new()));
            group.1.push(c.clone());
        }
        for (filter, list) in groups.into_values() {
            for chunk in list.chunks(RESUBSCRIBE_BATCH) {
                out.push(self.resubscribe_request(chunk, filter.clone()));
            }
        }
        out
    }

    fn resubscribe_request(&mut self, chunk: &[String], filter: Filter) -> String {
        let mut options = SubscribeOptions {
            filter,
            ..SubscribeOptions::default()
        };
        let mut asked = Vec::with_capacity(chunk.len());
        for c in chunk {
            let pos = self.subs.get(c).and_then(|s| s.position.clone());
            if let Some(p) = &pos {
                options.recover.insert(c.clone(), stream_position(p));
            }
            asked.push((c.clone(), pos));
        }
        let request = ClientRequest::Subscribe {
            channels: chunk.to_vec(),
            options,
        };
        let pending = Pending::Subscribe {
            channels: asked,
            resubscribe: true,
        };
        self.request(request, pending)
    }

    /// Applies a `subscribe_success` to one channel: its position, how it
    /// resumed, and the event (or the answer to the waiting `subscribe`).
    pub(crate) async fn confirm(
        &mut self,
        channel: &str,
        from: Option<Position>,
        info: ChannelPosition,
        resubscribe: bool,
    ) {
        // A snapshot was asked for (first request, nothing to recover).
        let Some(snapshot) = self
            .subs
            .get(channel)
            .map(|s| s.options.snapshot && !resubscribe && from.is_none())
        else {
            return;
        };
        let top = match (info.offset, info.epoch.clone()) {
            (Some(offset), Some(epoch)) => Some(Position { offset, epoch }),
            _ => None,
        };
        let recovery = recovery_of(from, &info, top.is_some(), resubscribe);
        if let Recovery::Failed { from } = &recovery {
            self.emit(ClientEvent::RecoveryFailed {
                channel: channel.to_string(),
                from: from.clone(),
            });
        }
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        sub.position = resume_position(&recovery, info.epoch, top.clone(), snapshot);
        sub.confirmed_once = true;
        let event = Subscribed {
            channel: channel.to_string(),
            position: top,
            recovery,
            resubscribed: resubscribe,
        };
        match sub.waiter.take() {
            Some((reply, rx)) => {
                let _ = reply.send(Ok((sub.key, rx, Some(event))));
            }
            None => {
                if sub.tx.send(SubEvent::Subscribed(event)).await.is_err() {
                    self.subs.remove(channel);
                }
            }
        }
    }
}

/// How a subscription resumed, from where it asked to resume (`from`) and
/// the server's answer for the channel.
fn recovery_of(
    from: Option<Position>,
    info: &ChannelPosition,
    has_history: bool,
    resubscribe: bool,
) -> Recovery {
    match (from, info.recovered) {
        (Some(from), Some(true)) => Recovery::Recovered { from },
        (Some(from), _) if has_history => Recovery::Failed { from },
        (Some(_), _) => Recovery::NoHistory,
        // A resubscription without a position: the channel had no history
        // before (or gained it since); what came in between is unknown.
        (None, _) if resubscribe => Recovery::NoHistory,
        (None, _) => Recovery::NotRequested,
    }
}

/// Where deliveries continue (a delivery at or below it is a duplicate):
/// after a recovery, at the asked offset, so the replay advances it; with a
/// snapshot coming, just below the top, so the snapshot (the publication at
/// the top) passes; otherwise at the top.
fn resume_position(
    recovery: &Recovery,
    epoch: Option<String>,
    top: Option<Position>,
    snapshot: bool,
) -> Option<Position> {
    match (recovery, top) {
        (Recovery::Recovered { from }, _) => Some(Position {
            offset: from.offset,
            epoch: epoch.unwrap_or_else(|| from.epoch.clone()),
        }),
        (_, Some(top)) if snapshot => Some(Position {
            offset: top.offset.saturating_sub(1),
            epoch: top.epoch,
        }),
        (_, top) => top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Position {
        Position {
            offset,
            epoch: "e".into(),
        }
    }

    fn answer(recovered: Option<bool>) -> ChannelPosition {
        ChannelPosition {
            offset: Some(9),
            epoch: Some("e".into()),
            recovered,
        }
    }

    #[test]
    fn recovery_outcomes() {
        assert_eq!(
            recovery_of(Some(pos(3)), &answer(Some(true)), true, true),
            Recovery::Recovered { from: pos(3) }
        );
        assert_eq!(
            recovery_of(Some(pos(3)), &answer(Some(false)), true, true),
            Recovery::Failed { from: pos(3) }
        );
        let no_history = ChannelPosition {
            recovered: Some(false),
            ..ChannelPosition::default()
        };
        assert_eq!(
            recovery_of(Some(pos(3)), &no_history, false, true),
            Recovery::NoHistory
        );
        assert_eq!(
            recovery_of(None, &answer(None), true, true),
            Recovery::NoHistory
        );
        assert_eq!(
            recovery_of(None, &answer(None), true, false),
            Recovery::NotRequested
        );
    }

    #[test]
    fn positions_let_replays_and_snapshots_through() {
        let recovered = Recovery::Recovered { from: pos(3) };
        let top = Some(pos(9));
        let at = |r: &Recovery, snapshot| {
            resume_position(r, Some("e".into()), top.clone(), snapshot).map(|p| p.offset)
        };
        assert_eq!(at(&recovered, false), Some(3));
        assert_eq!(at(&Recovery::NotRequested, false), Some(9));
        assert_eq!(at(&Recovery::NotRequested, true), Some(8));
        assert_eq!(at(&Recovery::Failed { from: pos(3) }, false), Some(9));
        assert_eq!(
            resume_position(&Recovery::NotRequested, None, None, true),
            None
        );
    }
}
