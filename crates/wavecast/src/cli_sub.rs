//! `wavecast sub`: subscribe to channels and print every event as one JSON
//! line (`type` first), reconnecting and recovering by itself.
//!
//! Invariants: stdout carries only the server's events (one JSON object a
//! line); every notice, warning and error goes to stderr, prefixed
//! `wavecast:`. A channel the server refuses is reported and skipped; `sub`
//! fails only when no channel is left. Ctrl-C and SIGTERM close the
//! connection with a close frame before `sub` exits 0. A recovery that
//! could not replay what was missed is always reported on stderr.

use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use wavecast_client::{
    Client, ClientConfig, ClientEvent, ConnectionState, Credentials, Position, Recovery, SubEvent,
    SubscribeOptions, Subscribed, Via,
};

use crate::cli_diagnose::{self, Target};
use crate::WsOpts;

/// Options of `sub` beyond the connection.
pub struct SubArgs {
    pub count: Option<u64>,
    pub recover: Option<u64>,
    pub epoch: Option<String>,
    pub signed: bool,
    pub no_reconnect: bool,
}

/// The WebSocket client configuration from the command line.
pub fn client_config(opts: &WsOpts, signed: bool) -> Result<ClientConfig, String> {
    let mut cfg = ClientConfig::new(&opts.server);
    cfg.ca_file = opts.ca_file.clone();
    Ok(match (&opts.token, &opts.api_key) {
        (Some(t), _) => cfg.credentials(Credentials::Token {
            token: t.clone(),
            via: Via::Header,
        }),
        (None, Some(k)) if signed => cfg.credentials(Credentials::SignedApiKey { key: k.clone() }),
        (None, Some(k)) => cfg.credentials(Credentials::ApiKey {
            key: k.clone(),
            via: Via::Header,
        }),
        (None, None) if signed => return Err("--signed needs --api-key".into()),
        (None, None) => cfg,
    })
}

/// The credential header of the upgrade, as the client sends it.
fn credential_header(opts: &WsOpts, signed: bool) -> Option<(&'static str, String)> {
    match (&opts.token, &opts.api_key) {
        (Some(t), _) => Some(("authorization", format!("Bearer {t}"))),
        (None, Some(k)) if !signed => Some(("x-api-key", k.clone())),
        _ => None,
    }
}

/// A JSON object as one line with `type` first, then the other keys.
pub fn line(v: &Value) -> String {
    let Value::Object(m) = v else {
        return v.to_string();
    };
    let Some(t) = m.get("type") else {
        return v.to_string();
    };
    let mut s = format!("{{\"type\":{t}");
    for (k, val) in m.iter().filter(|(k, _)| k.as_str() != "type") {
        s.push(',');
        s.push_str(&Value::from(k.as_str()).to_string());
        s.push(':');
        s.push_str(&val.to_string());
    }
    s.push('}');
    s
}

fn print_line(v: &Value) {
    println!("{}", line(v));
}

fn subscribed_line(s: &Subscribed) -> Value {
    let mut v = json!({"type": "subscribe_success", "channels": [s.channel], "resubscribed": s.resubscribed});
    if let Some(p) = &s.position {
        v["offset"] = json!(p.offset);
        v["epoch"] = json!(p.epoch);
    }
    match &s.recovery {
        Recovery::NotRequested => {}
        Recovery::Recovered { .. } => v["recovered"] = json!(true),
        Recovery::Failed { .. } | Recovery::NoHistory => v["recovered"] = json!(false),
    }
    v
}

/// The stderr warning for a (re)subscription that could not replay what
/// was missed, if any.
pub fn recovery_warning(s: &Subscribed) -> Option<String> {
    match &s.recovery {
        Recovery::Failed { from } => {
            let epoch = if from.epoch.is_empty() {
                String::new()
            } else {
                format!(" in epoch {}", from.epoch)
            };
            let now = s
                .position
                .as_ref()
                .map(|p| format!(" (the channel is at offset {} now)", p.offset))
                .unwrap_or_default();
            Some(format!(
                "warning: could not recover {:?} after offset {}{epoch}: the server's history no longer covers it, so publications were missed{now}",
                s.channel, from.offset
            ))
        }
        Recovery::NoHistory if s.resubscribed => Some(format!(
            "warning: {:?} keeps no history: publications sent while disconnected were missed",
            s.channel
        )),
        Recovery::NoHistory => Some(format!(
            "warning: {:?} keeps no history: there is nothing to recover",
            s.channel
        )),
        _ => None,
    }
}

fn announce(s: &Subscribed) {
    if let Some(w) = recovery_warning(s) {
        eprintln!("wavecast: {w}");
    }
    print_line(&subscribed_line(s));
}

fn options(args: &SubArgs) -> SubscribeOptions {
    SubscribeOptions {
        recover_from: match (args.recover, &args.epoch) {
            (Some(offset), Some(epoch)) => Some(Position {
                offset,
                epoch: epoch.clone(),
            }),
            _ => None,
        },
        since: match (args.recover, &args.epoch) {
            (Some(offset), None) => Some(offset),
            _ => None,
        },
        ..Default::default()
    }
}

/// Refuses at once, with the server's own error, when the server wants
/// authentication and none was given (instead of waiting for
/// `auth.auth_timeout`).
async fn check_auth_needed(opts: &WsOpts, channel: &str) -> Result<(), String> {
    if opts.token.is_some() || opts.api_key.is_some() {
        return Ok(());
    }
    if cli_diagnose::requires_auth(&opts.server).await != Some(true) {
        return Ok(());
    }
    let Some(t) = Target::of(&opts.server) else {
        return Ok(());
    };
    let said = cli_diagnose::auth_required_error(&t, channel)
        .await
        .map(|s| format!(" and answered {}", s.describe()))
        .unwrap_or_default();
    Err(format!(
        "connected to {}, but not authenticated: the server requires authentication{said}. Give --api-key KEY or --token JWT (wavecast token mints a development token)",
        t.ws_url
    ))
}

type Events = std::pin::Pin<Box<dyn Stream<Item = ClientEvent> + Send>>;

/// Waits for the first admission and prints its welcome; says why each
/// failed attempt failed. `Ok(false)`: stopped by a signal.
async fn first_connection(
    client: &Client,
    events: &mut Events,
    opts: &WsOpts,
    header: Option<(&str, &str)>,
    stop: &mut std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
) -> Result<bool, String> {
    let url = wavecast_client::config::ws_url(&opts.server);
    loop {
        let ev = tokio::select! {
            ev = events.next() => ev,
            () = stop.as_mut() => {
                let _ = client.close().await;
                return Ok(false);
            }
        };
        match ev {
            Some(ClientEvent::Connected { welcome }) => {
                print_line(&welcome);
                return Ok(true);
            }
            Some(ClientEvent::State(ConnectionState::Closed(e))) => {
                let why = match e {
                    Some(e) => cli_diagnose::explain_ws(&opts.server, header, &e).await,
                    None => "closed".into(),
                };
                return Err(format!("cannot connect to {url}: {why}"));
            }
            Some(ClientEvent::State(ConnectionState::Reconnecting { attempt, delay_ms })) => {
                let why = cli_diagnose::why_not_connected(&opts.server, header).await;
                eprintln!(
                    "wavecast: cannot connect to {url}: {why}; retrying (attempt {attempt}) in {delay_ms} ms"
                );
            }
            Some(_) => {}
            None => return Err("the client stopped".into()),
        }
    }
}

type Tagged = std::pin::Pin<Box<dyn Stream<Item = (String, SubEvent)> + Send>>;

/// Subscribes to each channel; a refused one is reported and skipped.
async fn subscribe_all(
    client: &Client,
    channels: &[String],
    options: &SubscribeOptions,
) -> Result<Vec<Tagged>, String> {
    let mut subs: Vec<Tagged> = Vec::new();
    for c in channels {
        match client.subscribe_with(c, options.clone()).await {
            Ok(sub) => {
                if let Some(s) = sub.confirmed() {
                    announce(s);
                }
                let name = c.clone();
                subs.push(Box::pin(sub.map(move |ev| (name.clone(), ev))));
            }
            Err(wavecast_client::Error::SubscribeFailed { error, .. }) => {
                eprintln!("wavecast: cannot subscribe to {c:?}: {error}");
            }
            Err(e) => return Err(format!("cannot subscribe to {c:?}: {e}")),
        }
    }
    if subs.is_empty() {
        return Err(if channels.len() == 1 {
            "the server refused the channel".into()
        } else {
            "the server refused every channel".into()
        });
    }
    Ok(subs)
}

pub async fn subscribe(opts: &WsOpts, channels: &[String], args: SubArgs) -> Result<(), String> {
    let cfg = client_config(opts, args.signed)?.reconnect(!args.no_reconnect);
    check_auth_needed(opts, &channels[0]).await?;
    let header = credential_header(opts, args.signed);
    let header = header.as_ref().map(|(k, v)| (*k, v.as_str()));
    let (client, events) = Client::start_with_events(cfg).map_err(|e| e.to_string())?;
    let mut events: Events = Box::pin(events);
    let mut stop = Box::pin(crate::shutdown_signal());
    if !first_connection(&client, &mut events, opts, header, &mut stop).await? {
        return Ok(());
    }
    let subs = subscribe_all(&client, channels, &options(&args)).await?;
    let run = Running {
        opts,
        header,
        count: args.count,
    };
    let result = run.deliver(subs, events, stop).await;
    let _ = client.close().await;
    result
}

/// The delivery loop's context.
struct Running<'a> {
    opts: &'a WsOpts,
    header: Option<(&'a str, &'a str)>,
    count: Option<u64>,
}

impl Running<'_> {
    /// Prints deliveries until `--count`, a signal, or the end of every
    /// subscription.
    async fn deliver(
        &self,
        subs: Vec<Tagged>,
        mut events: Events,
        mut stop: std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
    ) -> Result<(), String> {
        let total = subs.len();
        let mut merged = futures_util::stream::select_all(subs);
        let (mut seen, mut failed) = (0u64, 0usize);
        let mut after_disconnect = false;
        loop {
            tokio::select! {
                () = stop.as_mut() => return Ok(()),
                ev = merged.next() => match ev {
                    None if failed == total => return Err("every subscription was lost".into()),
                    None => return Ok(()),
                    Some((_, SubEvent::Publication(p))) => {
                        print_line(&p.to_json());
                        seen += 1;
                        if self.count.is_some_and(|c| seen >= c) {
                            return Ok(());
                        }
                    }
                    Some((_, SubEvent::Subscribed(s))) => announce(&s),
                    Some((c, SubEvent::Dropped { count })) => {
                        eprintln!("wavecast: the server dropped {count} publications of {c:?} (backpressure: this client read too slowly)");
                    }
                    Some((c, SubEvent::Failed(e))) => {
                        failed += 1;
                        eprintln!("wavecast: lost the subscription to {c:?}: {e}");
                    }
                    Some((c, SubEvent::Unsubscribed { server_side: true })) => {
                        eprintln!("wavecast: the server ended the subscription to {c:?}");
                    }
                    Some((_, SubEvent::Unsubscribed { .. })) => {}
                },
                ev = events.next() => match ev {
                    None => return Ok(()),
                    Some(ev) => {
                        if let Some(end) = self.on_event(ev, &mut after_disconnect).await {
                            return end;
                        }
                    }
                },
            }
        }
    }

    /// Handles a connection-wide event; `Some` ends `sub`.
    async fn on_event(
        &self,
        ev: ClientEvent,
        after_disconnect: &mut bool,
    ) -> Option<Result<(), String>> {
        match ev {
            ClientEvent::Connected { welcome } => print_line(&welcome),
            ClientEvent::Message { event, data } => {
                print_line(&json!({"type": event, "data": data}))
            }
            ClientEvent::Publication(p) => print_line(&p.to_json()),
            ClientEvent::Disconnected { code, reason } => {
                *after_disconnect = true;
                let code = code.map_or_else(|| "no close code".into(), |c| c.to_string());
                eprintln!("wavecast: disconnected ({code}): {reason}");
            }
            ClientEvent::State(ConnectionState::Reconnecting { attempt, delay_ms }) => {
                let why = if std::mem::take(after_disconnect) {
                    String::new()
                } else {
                    let w = cli_diagnose::why_not_connected(&self.opts.server, self.header).await;
                    format!(" ({w})")
                };
                eprintln!("wavecast: reconnecting (attempt {attempt}) in {delay_ms} ms{why}");
            }
            ClientEvent::State(ConnectionState::Closed(Some(e))) => {
                let why = cli_diagnose::explain_ws(&self.opts.server, self.header, &e).await;
                return Some(Err(why));
            }
            ClientEvent::State(ConnectionState::Closed(None)) => return Some(Ok(())),
            ClientEvent::ServerError(e) => eprintln!("wavecast: server error: {e}"),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_comes_first() {
        let v = json!({"channel": "news", "data": {"b": 1, "a": 2}, "type": "publication", "offset": 1});
        assert_eq!(
            line(&v),
            r#"{"type":"publication","channel":"news","data":{"a":2,"b":1},"offset":1}"#
        );
        let parsed: Value = serde_json::from_str(&line(&v)).unwrap();
        assert_eq!(parsed, v);
        assert_eq!(line(&json!([1])), "[1]");
    }

    #[test]
    fn recovery_warnings() {
        let mut s = Subscribed {
            channel: "news".into(),
            position: Some(Position {
                offset: 9,
                epoch: "e1".into(),
            }),
            recovery: Recovery::Failed {
                from: Position {
                    offset: 2,
                    epoch: String::new(),
                },
            },
            resubscribed: false,
        };
        let w = recovery_warning(&s).unwrap();
        assert!(
            w.contains("could not recover \"news\" after offset 2"),
            "{w}"
        );
        assert!(w.contains("offset 9 now"), "{w}");
        s.recovery = Recovery::Recovered {
            from: Position {
                offset: 2,
                epoch: "e1".into(),
            },
        };
        assert!(recovery_warning(&s).is_none());
        s.recovery = Recovery::NoHistory;
        s.resubscribed = true;
        assert!(recovery_warning(&s).unwrap().contains("while disconnected"));
    }
}
