//! The `wavecast bench` command line and its presets.
//!
//! [`BenchArgs`] is what clap parses: every knob a preset sets is optional.
//! [`Settings`] is what the scenarios read: the preset's values (issue 9's
//! tests A, B and C) under whatever the user gave explicitly. Worker
//! processes get the same command line and resolve the same settings.

use super::streams::StreamArgs;
use crate::ClientOpts;

/// The bench scenarios and the presets built on them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Fanout,
    Throughput,
    Connections,
    Churn,
    Mixed,
    /// N concurrent `/ws/stream_features` streams: does the server hold
    /// their cadence (see the `--grid-size` … `--lag-bound-ms` options)?
    Streams,
    /// Preset A: `connections` — RSS per idle, authenticated, subscribed
    /// connection at 15,000 connections (needs --server-pid).
    A,
    /// Preset B: `fanout` — 10,000 subscribers × 20 publishes/s × 20 s,
    /// 100-byte payloads (B5: --rate 5).
    B,
    /// Preset C: `throughput` — the highest sustained deliveries/s with
    /// 1,000 subscribers at p99 ≤ 100 ms and ≥ 99.9 % delivered.
    C,
}

impl Scenario {
    /// The scenario that runs (presets map to one).
    pub fn base(self) -> Scenario {
        match self {
            Scenario::A => Scenario::Connections,
            Scenario::B => Scenario::Fanout,
            Scenario::C => Scenario::Throughput,
            s => s,
        }
    }

    pub fn name(self) -> &'static str {
        match self.base() {
            Scenario::Fanout => "fanout",
            Scenario::Throughput => "throughput",
            Scenario::Connections => "connections",
            Scenario::Churn => "churn",
            Scenario::Streams => "streams",
            _ => "mixed",
        }
    }

    /// The preset's letter, if this is one.
    pub fn preset(self) -> Option<&'static str> {
        match self {
            Scenario::A => Some("A"),
            Scenario::B => Some("B"),
            Scenario::C => Some("C"),
            _ => None,
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    #[arg(value_enum)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub client: ClientOpts,
    /// Subscribers (connections; for churn, concurrent loops). Default 100;
    /// A 15,000, B 10,000, C 1,000.
    #[arg(long)]
    pub subscribers: Option<u64>,
    /// Publishes per second (per channel; throughput: the first step).
    /// Default 10; B 20; C 20.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of publishing (connections: of holding; churn: of looping).
    /// Default 10; A 5; B 20.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Payload bytes. Default 100.
    #[arg(long)]
    pub size: Option<usize>,
    #[arg(long, default_value = "bench")]
    pub channel: String,
    /// Channels of the mixed scenario's feed users.
    #[arg(long, default_value_t = 4)]
    pub channels: u64,
    /// Spread client source addresses over 127.0.0.1 ..= 127.0.0.N.
    /// Default 0 (the kernel chooses); A 8; B 4.
    #[arg(long)]
    pub src_ips: Option<u32>,
    /// Worker processes sharing the subscribers (fanout, throughput,
    /// connections). Each process may hold at most 20,000 open files.
    #[arg(long, default_value_t = 1)]
    pub workers: u64,
    /// The server's process ids (comma-separated: e.g. nginx's workers):
    /// report their RSS and CPU seconds, summed.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Mint a distinct HS256 JWT per connection with this secret (user
    /// `bench-<n>`), instead of --api-key / --token.
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// With --jwt-secret: the tokens' audience (`aud`), for a server with
    /// `auth.jwt_audience` (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', requires = "jwt_secret")]
    pub jwt_aud: Vec<String>,
    /// With --jwt-secret: the tokens' issuer (`iss`), for a server with
    /// `auth.jwt_issuer`.
    #[arg(long, requires = "jwt_secret")]
    pub jwt_iss: Option<String>,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Offer permessage-deflate on every upgrade (accepted where the
    /// endpoint has `deflate = true`). For `connections` (the idle cost of
    /// deflate): the bench's subscribers cannot read compressed frames, so
    /// deliveries of 256 bytes or more would fail.
    #[arg(long)]
    pub offer_deflate: bool,
    /// Publishes in flight at once (each on its own keep-alive HTTP
    /// connection), as a back end with several request threads would.
    /// 1 publishes strictly in order.
    #[arg(long, default_value_t = 32)]
    pub pub_concurrency: usize,
    /// Seconds to wait for late deliveries after publishing. Default 5.
    #[arg(long)]
    pub drain: Option<f64>,
    /// Throughput: the p99 latency bound in ms. Default 100.
    #[arg(long)]
    pub p99_bound_ms: Option<f64>,
    /// The least delivered fraction that passes (throughput steps) or
    /// that does not fail the run (fanout, mixed). Default: throughput
    /// 0.999, otherwise 1 (every delivery).
    #[arg(long)]
    pub min_delivery: Option<f64>,
    /// Throughput: rate multiplier between steps. Default 1.5.
    #[arg(long)]
    pub step_factor: Option<f64>,
    /// Throughput: seconds per step. Default 5.
    #[arg(long)]
    pub step_duration: Option<f64>,
    /// Throughput: the most steps. Default 30.
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// Throughput: after the first failing step, bisect between the last
    /// passing and the failing rate this many times. Default 0; C 3.
    #[arg(long)]
    pub refine: Option<u32>,
    /// Connections: seconds to let the server settle before reading RSS.
    /// Default 2; A 3.
    #[arg(long)]
    pub settle: Option<f64>,
    /// Generic mode: the subscribe URL, e.g. ws://127.0.0.1:8080/sub/{channel}.
    #[arg(long)]
    pub sub_url_template: Option<String>,
    /// Generic mode: the frame sent after connecting, e.g.
    /// {"type":"subscribe","channel":"{channel}"}; empty for none.
    #[arg(long)]
    pub sub_message_template: Option<String>,
    /// The publish URL, e.g. http://127.0.0.1:8080/pub/{channel}.
    #[arg(long)]
    pub pub_url_template: Option<String>,
    /// The publish body, e.g. {"channel":"{channel}","data":{data}} or {data}.
    #[arg(long)]
    pub pub_body_template: Option<String>,
    #[command(flatten)]
    pub streams: StreamArgs,
    /// Internal: run as worker I of --workers.
    #[arg(long, hide = true)]
    pub worker_index: Option<u64>,
}

/// The resolved settings every scenario reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The scenario that runs (a preset's base scenario).
    pub scenario: Scenario,
    pub preset: Option<&'static str>,
    pub client: ClientOpts,
    pub subscribers: u64,
    pub rate: f64,
    pub duration: f64,
    pub size: usize,
    pub channel: String,
    pub channels: u64,
    pub src_ips: u32,
    pub workers: u64,
    pub server_pid: Vec<u32>,
    pub jwt_secret: Option<String>,
    pub jwt_aud: Vec<String>,
    pub jwt_iss: Option<String>,
    pub connect_concurrency: usize,
    pub offer_deflate: bool,
    pub pub_concurrency: usize,
    pub drain: f64,
    pub p99_bound_ms: f64,
    pub min_delivery: f64,
    pub step_factor: f64,
    pub step_duration: f64,
    pub max_steps: u32,
    pub refine: u32,
    pub settle: f64,
    pub sub_url_template: Option<String>,
    pub sub_message_template: Option<String>,
    pub pub_url_template: Option<String>,
    pub pub_body_template: Option<String>,
    pub streams: StreamArgs,
    pub worker_index: Option<u64>,
}

/// A preset's defaults (`None`: the general default).
#[derive(Default)]
struct Preset {
    subscribers: Option<u64>,
    rate: Option<f64>,
    duration: Option<f64>,
    src_ips: Option<u32>,
    settle: Option<f64>,
    refine: Option<u32>,
}

fn preset(s: Scenario) -> Preset {
    match s {
        Scenario::A => Preset {
            subscribers: Some(15_000),
            duration: Some(5.0),
            src_ips: Some(8),
            settle: Some(3.0),
            ..Preset::default()
        },
        Scenario::B => Preset {
            subscribers: Some(10_000),
            rate: Some(20.0),
            duration: Some(20.0),
            src_ips: Some(4),
            ..Preset::default()
        },
        Scenario::C => Preset {
            subscribers: Some(1_000),
            rate: Some(20.0),
            refine: Some(3),
            ..Preset::default()
        },
        _ => Preset::default(),
    }
}

impl BenchArgs {
    /// The settings: explicit values, else the preset's, else the
    /// general defaults.
    pub fn resolve(self) -> Settings {
        let p = preset(self.scenario);
        let base = self.scenario.base();
        Settings {
            scenario: base,
            preset: self.scenario.preset(),
            client: self.client,
            subscribers: self.subscribers.or(p.subscribers).unwrap_or(100),
            rate: self.rate.or(p.rate).unwrap_or(10.0),
            duration: self.duration.or(p.duration).unwrap_or(10.0),
            size: self.size.unwrap_or(100),
            channel: self.channel,
            channels: self.channels,
            src_ips: self.src_ips.or(p.src_ips).unwrap_or(0),
            workers: self.workers,
            server_pid: self.server_pid,
            jwt_secret: self.jwt_secret,
            jwt_aud: self.jwt_aud,
            jwt_iss: self.jwt_iss,
            connect_concurrency: self.connect_concurrency,
            offer_deflate: self.offer_deflate,
            pub_concurrency: self.pub_concurrency.max(1),
            drain: self.drain.unwrap_or(5.0),
            p99_bound_ms: self.p99_bound_ms.unwrap_or(100.0),
            min_delivery: self
                .min_delivery
                .unwrap_or(if base == Scenario::Throughput {
                    0.999
                } else {
                    1.0
                }),
            step_factor: self.step_factor.unwrap_or(1.5),
            step_duration: self.step_duration.unwrap_or(5.0),
            max_steps: self.max_steps.unwrap_or(30),
            refine: self.refine.or(p.refine).unwrap_or(0),
            settle: self.settle.or(p.settle).unwrap_or(2.0),
            sub_url_template: self.sub_url_template,
            sub_message_template: self.sub_message_template,
            pub_url_template: self.pub_url_template,
            pub_body_template: self.pub_body_template,
            streams: self.streams,
            worker_index: self.worker_index,
        }
    }
}

impl Settings {
    /// Refuses settings that cannot measure what they claim.
    pub fn check(&self) -> Result<(), String> {
        if self.workers > 1
            && !matches!(
                self.scenario,
                Scenario::Fanout | Scenario::Throughput | Scenario::Connections
            )
        {
            return Err("--workers applies to fanout, throughput and connections".into());
        }
        let per_process = self.subscribers.div_ceil(self.workers.max(1));
        if per_process > 19_000 {
            return Err(format!(
                "{per_process} connections per process would pass the 20,000 open-file limit: use --workers {}",
                self.subscribers.div_ceil(19_000)
            ));
        }
        if self.rate < 0.0 || self.duration < 0.0 || self.step_factor <= 1.0 {
            return Err("--rate and --duration must be >= 0 and --step-factor > 1".into());
        }
        if !(0.0..=1.0).contains(&self.min_delivery) {
            return Err("--min-delivery is a fraction between 0 and 1".into());
        }
        let generic = self.sub_url_template.is_some();
        if self.preset == Some("A") && self.worker_index.is_none() {
            if self.server_pid.is_empty() {
                return Err("preset A measures the server's RSS: give --server-pid".into());
            }
            let authenticated = self.jwt_secret.is_some()
                || self.client.token.is_some()
                || self.client.api_key.is_some();
            if !generic && !authenticated {
                return Err("preset A measures authenticated connections: give --jwt-secret (or --token / --api-key)".into());
            }
        }
        if !generic
            && (self.sub_message_template.is_some() || self.pub_body_template.is_some())
            && self.worker_index.is_none()
        {
            // Allowed, but say how it is read.
            eprintln!("wavecast bench: templates without --sub-url-template still speak the wavecast protocol");
        }
        Ok(())
    }
}
