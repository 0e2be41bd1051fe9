//! The client subcommands: `pub` (HTTP publish), `sub` (subscribe with
//! reconnect and recovery, one JSON line per event), `token` (mint a
//! development JWT), `sign` (a signed `auth` message) and `replay` (publish
//! an NDJSON history export again at its original pace).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use wavecast_client::auth::{
    mint_token, now_millis, signed_api_key_auth, signed_key_id_auth, TokenClaims,
};
use wavecast_client::{
    Client, ClientConfig, ClientEvent, ConnectionState, Credentials, HttpApi, Position, Recovery,
    SubEvent, SubscribeOptions, Via,
};

use crate::ClientOpts;

fn parse_data(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The `pub` body: `{"channel","type"?,"data"}`.
fn publish_body(channel: &str, event: Option<&str>, data: &Value) -> Bytes {
    let mut body = json!({"channel": channel, "data": data});
    if let Some(e) = event {
        body["type"] = json!(e);
    }
    Bytes::from(body.to_string())
}

pub async fn publish(
    opts: &ClientOpts,
    channel: &str,
    data: Option<String>,
    event: Option<String>,
) -> Result<(), String> {
    let api = HttpApi::new(&opts.server, opts.http_key.clone());
    let url = format!("{}/api/publish", api.base());
    let send = |data: Value| {
        let body = publish_body(channel, event.as_deref(), &data);
        let (api, url) = (api.clone(), url.clone());
        async move {
            let reply = api
                .post(&url, body)
                .await
                .map_err(|e| format!("publish failed: {e}"))?;
            println!("{}", String::from_utf8_lossy(&reply));
            Ok::<(), String>(())
        }
    };
    match data {
        Some(d) => send(parse_data(&d)).await,
        None => {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if !line.trim().is_empty() {
                    send(parse_data(&line)).await?;
                }
            }
            Ok(())
        }
    }
}

/// The WebSocket client configuration from the command line.
pub fn client_config(opts: &ClientOpts, signed: bool) -> Result<ClientConfig, String> {
    let cfg = ClientConfig::new(&opts.server);
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

/// Options of `sub` beyond the connection.
pub struct SubArgs {
    pub count: Option<u64>,
    pub recover: Option<u64>,
    pub epoch: Option<String>,
    pub signed: bool,
    pub no_reconnect: bool,
}

fn print_line(v: &Value) {
    println!("{v}");
}

fn subscribed_line(s: &wavecast_client::Subscribed) -> Value {
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

pub async fn subscribe(
    opts: &ClientOpts,
    channels: &[String],
    args: SubArgs,
) -> Result<(), String> {
    let cfg = client_config(opts, args.signed)?.reconnect(!args.no_reconnect);
    let (client, events) = Client::start_with_events(cfg).map_err(|e| e.to_string())?;
    let mut events = Box::pin(events);
    // Print the welcome of the first connection before any subscription.
    loop {
        match events.next().await {
            Some(ClientEvent::Connected { welcome }) => {
                print_line(&welcome);
                break;
            }
            Some(ClientEvent::State(ConnectionState::Closed(e))) => {
                return Err(format!(
                    "cannot connect to {}: {}",
                    opts.server,
                    e.map(|e| e.to_string()).unwrap_or_else(|| "closed".into())
                ))
            }
            Some(ClientEvent::State(ConnectionState::Reconnecting { attempt, delay_ms })) => {
                eprintln!("wavecast: connecting (attempt {attempt}, retry in {delay_ms} ms)");
            }
            Some(_) => {}
            None => return Err("the client stopped".into()),
        }
    }
    let options = SubscribeOptions {
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
    };
    let mut subs = Vec::new();
    for c in channels {
        let sub = client
            .subscribe_with(c, options.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(s) = sub.confirmed() {
            print_line(&subscribed_line(s));
        }
        subs.push(sub);
    }
    let mut merged = futures_util::stream::select_all(subs);
    let mut seen = 0u64;
    loop {
        tokio::select! {
            ev = merged.next() => match ev {
                None => return Ok(()),
                Some(SubEvent::Publication(p)) => {
                    print_line(&p.to_json());
                    seen += 1;
                    if args.count.is_some_and(|c| seen >= c) {
                        let _ = client.close().await;
                        return Ok(());
                    }
                }
                Some(SubEvent::Subscribed(s)) => {
                    if let Recovery::Failed { from } = &s.recovery {
                        eprintln!(
                            "wavecast: could not recover {:?} from offset {} (epoch {}): publications were missed",
                            s.channel, from.offset, from.epoch
                        );
                    }
                    print_line(&subscribed_line(&s));
                }
                Some(SubEvent::Dropped { count }) => {
                    eprintln!("wavecast: the server dropped {count} publications (backpressure)");
                }
                Some(SubEvent::Failed(e)) => return Err(e.to_string()),
                Some(SubEvent::Unsubscribed { server_side }) => {
                    if server_side {
                        eprintln!("wavecast: the server ended a subscription");
                    }
                }
            },
            ev = events.next() => match ev {
                None => return Ok(()),
                Some(ClientEvent::Connected { welcome }) => print_line(&welcome),
                Some(ClientEvent::Message { event, data }) => print_line(&json!({"type": event, "data": data})),
                Some(ClientEvent::Publication(p)) => print_line(&p.to_json()),
                Some(ClientEvent::Disconnected { code, reason }) => {
                    eprintln!("wavecast: disconnected ({}): {reason}", code.map(|c| c.to_string()).unwrap_or_else(|| "no close code".into()));
                }
                Some(ClientEvent::State(ConnectionState::Reconnecting { attempt, delay_ms })) => {
                    eprintln!("wavecast: reconnecting (attempt {attempt}) in {delay_ms} ms");
                }
                Some(ClientEvent::State(ConnectionState::Closed(Some(e)))) => {
                    return Err(e.to_string());
                }
                Some(ClientEvent::State(ConnectionState::Closed(None))) => return Ok(()),
                Some(ClientEvent::ServerError(e)) => eprintln!("wavecast: server error: {e}"),
                Some(_) => {}
            },
        }
    }
}

/// Parses `90`, `90s`, `15m`, `2h`, `1d` as a duration.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("bad duration {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

pub fn token(
    secret: &str,
    sub: Option<String>,
    channels: &[String],
    ttl: &str,
) -> Result<(), String> {
    let ttl = parse_ttl(ttl)?;
    let channels: Vec<String> = channels
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let t = mint_token(secret, &TokenClaims { sub, channels, ttl }).map_err(|e| e.to_string())?;
    println!("{t}");
    Ok(())
}

pub fn sign(
    api_key: Option<String>,
    key_id: Option<String>,
    secret: Option<String>,
    timestamp: Option<u64>,
) -> Result<(), String> {
    let ts = timestamp.unwrap_or_else(now_millis);
    let msg = match (api_key, key_id, secret) {
        (Some(k), None, _) => signed_api_key_auth(&k, ts),
        (None, Some(id), Some(s)) => signed_key_id_auth(&id, &s, ts),
        (None, Some(_), None) => return Err("--key-id needs --secret".into()),
        (Some(_), Some(_), _) => return Err("give --api-key or --key-id, not both".into()),
        (None, None, _) => return Err("give --api-key, or --key-id with --secret".into()),
    };
    println!("{msg}");
    Ok(())
}

/// RFC 3339 UTC (`2026-11-21T21:48:00.123Z`, or with an offset) → ms since
/// the Unix epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &frac[digits.len()..];
        let ms: String = digits.chars().chain("000".chars()).take(3).collect();
        millis = ms.parse().ok()?;
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 60 + o.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

/// `max` or a positive factor.
pub fn parse_speed(s: &str) -> Result<Option<f64>, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(Some(f)),
        _ => Err(format!("--speed {s:?}: use a positive number or max")),
    }
}

/// Publishes every line of an NDJSON export to `channel`, keeping the gaps
/// between the lines' timestamps divided by `speed` (`None`: no pause).
pub async fn replay(
    opts: &ClientOpts,
    file: &std::path::Path,
    channel: &str,
    speed: Option<f64>,
) -> Result<(), String> {
    let text = tokio::fs::read_to_string(file)
        .await
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let api = HttpApi::new(&opts.server, opts.http_key.clone());
    let started = tokio::time::Instant::now();
    let mut first_ts: Option<u64> = None;
    let (mut published, mut skipped) = (0u64, 0u64);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not JSON: {e}", file.display(), n + 1))?;
        let Some(data) = v.get("data") else {
            skipped += 1;
            continue;
        };
        if let (Some(speed), Some(ts)) = (speed, v["timestamp"].as_str().and_then(parse_rfc3339_ms))
        {
            let first = *first_ts.get_or_insert(ts);
            let due = Duration::from_secs_f64(ts.saturating_sub(first) as f64 / 1000.0 / speed);
            tokio::time::sleep_until(started + due).await;
        }
        let event = v["type"].as_str().filter(|t| *t != "publication");
        api.publish(channel, event, data)
            .await
            .map_err(|e| format!("{}:{}: {e}", file.display(), n + 1))?;
        published += 1;
    }
    println!(
        "{}",
        json!({
            "channel": channel,
            "published": published,
            "skipped": skipped,
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T21:48:00.007Z"),
            Some(1_795_297_680_007)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00.123Z"),
            Some(951_782_400_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T01:00:00+01:00"),
            Some(951_782_400_000)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn ttl_and_speed() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_ttl("2y").is_err());
        assert_eq!(parse_speed("max").unwrap(), None);
        assert_eq!(parse_speed("2").unwrap(), Some(2.0));
        assert!(parse_speed("0").is_err());
    }
}
