//! The node registry: each node refreshes a hash `{prefix}:node:{id}`
//! (address, connections, last heartbeat) with a TTL of three heartbeats,
//! so the live nodes can be listed and a dead node disappears by itself.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use wavecast_protocol::time::now_millis;

use super::resp::Value;
use super::shared::{Inner, NodeSelf};
use crate::broker::api::NodeInfo;
use crate::history::StoreError;

/// How often a node refreshes its entry.
const EVERY: Duration = Duration::from_secs(2);

/// Refreshes this node's entry until the broker is dropped.
pub(super) fn spawn_heartbeat(inner: Weak<Inner>, node: NodeSelf) {
    tokio::spawn(async move {
        loop {
            let Some(i) = inner.upgrade() else { return };
            let connections = i
                .events
                .get()
                .and_then(Weak::upgrade)
                .map_or(0, |e| e.local_connections());
            let info = NodeInfo {
                id: node.id.clone(),
                address: node.address.lock().clone(),
                connections: connections as u64,
                last_heartbeat_ms: now_millis(),
            };
            if let Err(e) = heartbeat(&i, &info, EVERY * 3).await {
                tracing::debug!(error = %e, "node registry heartbeat failed");
            }
            drop(i);
            tokio::time::sleep(EVERY).await;
        }
    });
}

async fn heartbeat(inner: &Inner, node: &NodeInfo, ttl: Duration) -> Result<(), StoreError> {
    let key = inner.key("node", &node.id);
    let (conns, hb, ttl) = (
        node.connections.to_string(),
        node.last_heartbeat_ms.to_string(),
        (ttl.as_millis() as u64).to_string(),
    );
    inner
        .cmd(&[
            b"HSET",
            key.as_bytes(),
            b"id",
            node.id.as_bytes(),
            b"address",
            node.address.as_bytes(),
            b"connections",
            conns.as_bytes(),
            b"last_heartbeat_ms",
            hb.as_bytes(),
        ])
        .await?;
    inner
        .cmd(&[b"PEXPIRE", key.as_bytes(), ttl.as_bytes()])
        .await?;
    Ok(())
}

/// The live nodes, sorted by id.
pub(super) async fn nodes(inner: &Arc<Inner>) -> Result<Vec<NodeInfo>, StoreError> {
    let pattern = format!("{}:node:*", inner.prefix);
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let v = inner
            .cmd(&[
                b"SCAN",
                cursor.as_bytes(),
                b"MATCH",
                pattern.as_bytes(),
                b"COUNT",
                b"100",
            ])
            .await?
            .into_array();
        let mut it = v.into_iter();
        cursor = it
            .next()
            .and_then(|c| c.as_str().map(String::from))
            .unwrap_or_else(|| "0".into());
        for k in it.next().map(Value::into_array).unwrap_or_default() {
            if let Some(k) = k.as_str() {
                keys.push(k.to_string());
            }
        }
        if cursor == "0" || keys.len() > 10_000 {
            break;
        }
    }
    let mut out = Vec::new();
    for k in keys {
        let v = inner.cmd(&[b"HGETALL", k.as_bytes()]).await?.into_array();
        let mut m: HashMap<String, String> = HashMap::new();
        let mut it = v.into_iter();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            if let (Some(a), Some(b)) = (a.as_str(), b.as_str()) {
                m.insert(a.into(), b.into());
            }
        }
        let num = |k: &str| m.get(k).and_then(|c| c.parse().ok()).unwrap_or(0);
        out.push(NodeInfo {
            id: m.get("id").cloned().unwrap_or_default(),
            address: m.get("address").cloned().unwrap_or_default(),
            connections: num("connections"),
            last_heartbeat_ms: num("last_heartbeat_ms"),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
