//! The server API over HTTP/1.1 (keep-alive, pooled; `https://` too):
//! publishing and reading history, authenticated with the server API key
//! when one is set.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::config::{encode_query, http_base};
use crate::error::{Error, Result};

/// The answer to a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Subscriber queues that took the publication.
    pub delivered: u64,
    /// Its offset, when the namespace keeps history.
    pub offset: Option<u64>,
}

/// A client of the server API.
#[derive(Clone)]
pub struct HttpApi {
    base: String,
    key: Option<String>,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpApi {
    /// `server` is the base URL (`http://host:port`; a `ws://` URL works
    /// too). `key` is the server API key (`http.api_key`), if any.
    pub fn new(server: &str, key: Option<String>) -> HttpApi {
        Self::build(server, key, crate::tls::web_roots())
    }

    /// Like [`HttpApi::new`], trusting the CA certificates of `ca_file`
    /// (PEM) for an `https://` server instead of the web roots.
    pub fn with_ca_file(
        server: &str,
        key: Option<String>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<HttpApi> {
        let tls = crate::tls::client_config(ca_file)?;
        Ok(Self::build(server, key, tls))
    }

    fn build(
        server: &str,
        key: Option<String>,
        tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> HttpApi {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        HttpApi {
            base: http_base(server),
            key: key.filter(|k| !k.is_empty()),
            http: HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(256)
                .build(connector),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; returns the status and body of any answer.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json");
        if let Some(k) = &self.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| Error::InvalidConfig(format!("bad request to {url}: {e}")))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Connect(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Connect(format!("{url}: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// POSTs `body` to `url` and fails on a non-2xx status.
    pub async fn post(&self, url: &str, body: Bytes) -> Result<Bytes> {
        let (status, body) = self.request("POST", url, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::Http {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        }
    }

    /// `POST /api/publish`. `data_json` must be valid JSON; it is forwarded
    /// byte for byte.
    pub async fn publish_raw(
        &self,
        channel: &str,
        event: Option<&str>,
        data_json: &str,
    ) -> Result<Published> {
        let mut body = String::with_capacity(data_json.len() + channel.len() + 48);
        body.push_str("{\"channel\":");
        body.push_str(&json!(channel).to_string());
        if let Some(e) = event {
            body.push_str(",\"type\":");
            body.push_str(&json!(e).to_string());
        }
        body.push_str(",\"data\":");
        body.push_str(data_json);
        body.push('}');
        let url = format!("{}/api/publish", self.base);
        let reply = self.post(&url, Bytes::from(body)).await?;
        let v: Value = serde_json::from_slice(&reply)
            .map_err(|e| Error::Protocol(format!("publish reply is not JSON: {e}")))?;
        Ok(Published {
            delivered: v["delivered"].as_u64().unwrap_or(0),
            offset: v["offset"].as_u64(),
        })
    }

    /// `POST /api/publish` with a JSON value.
    pub async fn publish(
        &self,
        channel: &str,
        event: Option<&str>,
        data: &Value,
    ) -> Result<Published> {
        self.publish_raw(channel, event, &data.to_string()).await
    }

    /// `GET /api/history/{channel}`: `{channel, offset, epoch, earliest,
    /// publications}` after `since`.
    pub async fn history(&self, channel: &str, since: Option<u64>) -> Result<Value> {
        let mut url = format!("{}/api/history/{}", self.base, encode_query(channel));
        if let Some(s) = since {
            url.push_str(&format!("?since={s}"));
        }
        let (status, body) = self.request("GET", &url, None).await?;
        if status != 200 {
            return Err(Error::Http {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::Protocol(format!("history is not JSON: {e}")))
    }
}
