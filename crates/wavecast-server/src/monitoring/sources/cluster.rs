//! The `cluster` and `topology` sources: the nodes of this deployment —
//! the node registry on Redis, or this one node.
//!
//! `cluster` (`nodes`, `node_status_update`): `{cluster: {nodes,
//! reachable, connections, subscriptions, publish_rate}, nodes: [{id,
//! address, connections, reachable, self, last_heartbeat_ms,
//! subscriptions?, publish_rate?, uptime_seconds?}]}` — the last three
//! for this node only (the registry does not carry them). A node is
//! reachable while it is in the registry (it heartbeats); this node is.
//!
//! `topology` (`topology`, `topology_update`): `{nodes: [{id, address,
//! role}], edges: [{from, to, kind}]}`: the wavecast nodes, and with
//! Redis the broker and an edge from each node to it. Published only
//! when it differs from the last one published — or when the room has
//! more subscribers on this node than at the previous tick, so a
//! dashboard that just joined gets the current map within one interval.

use std::time::Instant;

use serde_json::{json, Value};

use super::ctx::Ctx;
use crate::broker::NodeInfo;

/// The nodes, this one first; an error when the registry cannot be read.
async fn nodes(ctx: &Ctx<'_>) -> Result<Vec<NodeInfo>, String> {
    let me = &ctx.state.node;
    let mut list = match ctx.state.hub.nodes().await {
        Some(Ok(n)) => n,
        Some(Err(e)) => return Err(format!("node registry: {e}")),
        None => Vec::new(),
    };
    list.retain(|n| n.id != me.id);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    list.insert(
        0,
        NodeInfo {
            id: me.id.clone(),
            address: me.address.lock().clone(),
            connections: ctx.state.hub.connection_count() as u64,
            last_heartbeat_ms: ms,
        },
    );
    Ok(list)
}

/// The `cluster` source.
#[derive(Default)]
pub struct ClusterSource {
    last: Option<(Instant, u64)>,
}

impl ClusterSource {
    pub async fn collect(&mut self, ctx: &Ctx<'_>) -> Result<Value, String> {
        let list = nodes(ctx).await?;
        let pubs = ctx.state.metrics.publications_total.get();
        let now = Instant::now();
        // The first tick has no previous count: its rate is 0.
        let (then, before) = self.last.replace((now, pubs)).unwrap_or((now, pubs));
        let secs = now.duration_since(then).as_secs_f64().max(0.001);
        let publish_rate = (pubs.saturating_sub(before) as f64 / secs * 100.0).round() / 100.0;
        let subscriptions = ctx.state.metrics.subscriptions.get();
        let connections: u64 = list.iter().map(|n| n.connections).sum();
        let out: Vec<Value> = list
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut v = json!({
                    "id": n.id,
                    "address": n.address,
                    "connections": n.connections,
                    "reachable": true,
                    "self": i == 0,
                    "last_heartbeat_ms": n.last_heartbeat_ms,
                });
                if i == 0 {
                    v["subscriptions"] = json!(subscriptions);
                    v["publish_rate"] = json!(publish_rate);
                    v["uptime_seconds"] = json!(ctx.state.started.elapsed().as_secs());
                }
                v
            })
            .collect();
        Ok(json!({
            "cluster": {
                "nodes": list.len(),
                "reachable": list.len(),
                "connections": connections,
                "subscriptions": subscriptions,
                "publish_rate": publish_rate,
            },
            "nodes": out,
        }))
    }
}

/// The `topology` source.
#[derive(Default)]
pub struct TopologySource {
    last: Option<Value>,
    subscribers: usize,
}

impl TopologySource {
    pub async fn collect(&mut self, ctx: &Ctx<'_>, room: &str) -> Result<Option<Value>, String> {
        let subscribers = ctx
            .state
            .hub
            .channel_counts()
            .into_iter()
            .find(|(c, _)| c == room)
            .map_or(0, |(_, n)| n);
        let joined = subscribers > self.subscribers;
        self.subscribers = subscribers;
        let list = nodes(ctx).await?;
        let mut ids: Vec<(&str, &str)> = list
            .iter()
            .map(|n| (n.id.as_str(), n.address.as_str()))
            .collect();
        ids.sort_unstable();
        let redis = ctx.state.config.engine == crate::config::EngineKind::Redis;
        let mut nodes: Vec<Value> = ids
            .iter()
            .map(|(id, address)| json!({"id": id, "address": address, "role": "wavecast"}))
            .collect();
        let mut edges = Vec::new();
        if redis {
            nodes.push(json!({"id": "redis", "address": crate::config::redact_url(&ctx.state.config.redis_url), "role": "broker"}));
            edges = ids
                .iter()
                .map(|(id, _)| json!({"from": id, "to": "redis", "kind": "pubsub"}))
                .collect();
        }
        let topology = json!({"nodes": nodes, "edges": edges});
        if self.last.as_ref() == Some(&topology) && !joined {
            return Ok(None);
        }
        self.last = Some(topology.clone());
        Ok(Some(topology))
    }
}
