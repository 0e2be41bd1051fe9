//! The `http` source: the FOG seed's `collect_data()` — a GET of a back
//! end's URL on each tick, answered with a JSON object that is published
//! as the tick's data (so a back end feeds its betanet / p2p figures into
//! `nodes` in the seed's exact shape).
//!
//! Invariants: one pull takes at most `timeout` (connect, headers and
//! body); a body over 1 MiB, a status other than 2xx, or anything but a
//! JSON object is an error.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Largest body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// The `http` source.
pub struct HttpSource {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
    timeout: Duration,
}

impl HttpSource {
    pub fn new(url: &str, timeout: Duration) -> HttpSource {
        HttpSource {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: url.to_string(),
            timeout,
        }
    }

    pub async fn collect(&mut self) -> Result<Value, String> {
        let request = hyper::Request::get(&self.url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad url: {e}"))?;
        let call = async {
            let resp = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))??;
        if !status.is_success() {
            return Err(format!("status {status}"));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err("the answer is JSON but not an object".into()),
            Err(e) => Err(format!("bad JSON: {e}")),
        }
    }
}
