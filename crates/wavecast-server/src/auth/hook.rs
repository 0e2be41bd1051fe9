//! The optional connect hook: after authentication the server POSTs
//! `{user_id, claims, remote_addr}` to `auth.connect_url`; the backend
//! answers `{"allow": true, "channels": [...]}` (extra channels to join)
//! or `{"allow": false, "reason": "..."}`. Timeouts and failures follow
//! `auth.connect_fail_open`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use wavecast_protocol::ErrorCode;

use super::principal::{AuthError, Principal};
use crate::audit;
use crate::config::AuthConfig;

/// An HTTP client for the hook.
pub type HookClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HookClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Asks the backend. Returns the extra channels to join.
pub async fn check(
    cfg: &AuthConfig,
    client: &HookClient,
    principal: &Principal,
    remote: SocketAddr,
) -> Result<Vec<String>, AuthError> {
    let body = json!({
        "user_id": principal.user_id,
        "claims": principal.claims.value(),
        "remote_addr": remote.to_string(),
    });
    let request = hyper::Request::post(&cfg.connect_url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())));
    let failed = |why: String| {
        audit::connect_hook_failed(remote, &why, cfg.connect_fail_open);
        if cfg.connect_fail_open {
            Ok(Vec::new())
        } else {
            Err(AuthError::new(
                ErrorCode::Unavailable,
                "the connect check is unavailable; retry later",
            ))
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => return failed(format!("bad connect_url: {e}")),
    };
    let call = async {
        let resp = client.request(request).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, bytes))
    };
    let (status, bytes) = match tokio::time::timeout(cfg.connect_timeout, call).await {
        Err(_) => return failed("timeout".into()),
        Ok(Err(e)) => return failed(e),
        Ok(Ok(r)) => r,
    };
    if !status.is_success() {
        return failed(format!("status {status}"));
    }
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return failed(format!("bad JSON: {e}")),
    };
    if v["allow"] == Value::Bool(true) {
        Ok(v["channels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default())
    } else {
        let reason = v["reason"]
            .as_str()
            .unwrap_or("denied by the connect check");
        Err(AuthError::new(
            ErrorCode::Forbidden,
            reason.chars().take(200).collect::<String>(),
        ))
    }
}
