//! The HTTP client subcommands: `pub` (publish DATA or each line of stdin),
//! `replay` (publish an NDJSON history export again at its recorded pace)
//! and `ready` (a health check on `/ready`). Both print the server's JSON answers on stdout; a failure says
//! what the server answered (status, code, message, help) or why it could
//! not be reached.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use wavecast_client::HttpApi;

use crate::cli_diagnose::explain_http;
use crate::HttpOpts;

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
    opts: &HttpOpts,
    channel: &str,
    data: Option<String>,
    event: Option<String>,
) -> Result<(), String> {
    let api = HttpApi::with_ca_file(&opts.server, opts.http_key.clone(), opts.ca_file.as_deref())
        .map_err(|e| e.to_string())?;
    let url = format!("{}/api/publish", api.base());
    let send = |data: Value| {
        let body = publish_body(channel, event.as_deref(), &data);
        let (api, url) = (api.clone(), url.clone());
        async move {
            let reply = match api.post(&url, body).await {
                Ok(r) => r,
                Err(e) => {
                    let why = explain_http(api.base(), &e).await;
                    return Err(format!("publish to {channel:?} failed: {why}"));
                }
            };
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

/// `wavecast ready`: prints `/ready`'s answer; fails unless it is 200.
pub async fn ready(server: &str) -> Result<(), String> {
    let api = HttpApi::new(server, None);
    let url = format!("{}/ready", api.base());
    let answer = tokio::time::timeout(Duration::from_secs(5), api.request("GET", &url, None)).await;
    let (status, body) = match answer {
        Err(_) => return Err(format!("{url} did not answer within 5 s")),
        Ok(Err(e)) => return Err(format!("not ready: {}", explain_http(api.base(), &e).await)),
        Ok(Ok(r)) => r,
    };
    let body = String::from_utf8_lossy(&body);
    println!("{}", body.trim());
    if status == 200 {
        Ok(())
    } else {
        let why = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["status"].as_str().map(String::from))
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(format!("not ready: {why} (HTTP {status})"))
    }
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
    opts: &HttpOpts,
    file: &std::path::Path,
    channel: &str,
    speed: Option<f64>,
) -> Result<(), String> {
    let text = tokio::fs::read_to_string(file)
        .await
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let api = HttpApi::with_ca_file(&opts.server, opts.http_key.clone(), opts.ca_file.as_deref())
        .map_err(|e| e.to_string())?;
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
        if let Err(e) = api.publish(channel, event, data).await {
            let why = explain_http(api.base(), &e).await;
            return Err(format!(
                "{}:{}: publish failed after {published} publications: {why}",
                file.display(),
                n + 1
            ));
        }
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
    fn speed() {
        assert_eq!(parse_speed("max").unwrap(), None);
        assert_eq!(parse_speed("2").unwrap(), Some(2.0));
        assert!(parse_speed("0").is_err());
    }
}
