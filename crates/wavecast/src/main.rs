//! The `wavecast` command: `serve`, `config`, `doctor`, `ready`, the client
//! tools `pub`, `sub`, `token`, `sign` and `replay`, and the load generator
//! `bench`. This file holds the command line and the dispatch; each
//! command lives in its own module.
//!
//! Exit status: 0 on success, 1 when the command failed (the reason is on
//! stderr, `wavecast: …`), 2 for a command line that does not parse.

mod bench;
mod cli_client;
mod cli_diagnose;
mod cli_doctor;
mod cli_sub;
mod cli_token;
mod dashboard;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wavecast_server::config::{ConfigWarning, LogFormat, LogLevel};
use wavecast_server::{Config, Server};

#[derive(Parser)]
#[command(
    name = "wavecast",
    version,
    about = "Real-time WebSocket streaming server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ServerOpts {
    /// TOML configuration file.
    #[arg(long, short, env = "WAVECAST_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (env WAVECAST_BIND).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// Port to listen on (env WAVECAST_PORT; default 8000).
    #[arg(long)]
    port: Option<u16>,
    /// Serve the conformance echo endpoint `/echo` (`[conformance] echo`).
    #[arg(long)]
    echo_endpoint: bool,
}

impl ServerOpts {
    /// The configuration (flags over the file and environment), and the
    /// warnings to report once logging is set up.
    fn load(&self) -> Result<(Config, Vec<ConfigWarning>), String> {
        let loaded = Config::load_reporting(self.config.as_deref()).map_err(|e| e.to_string())?;
        let mut cfg = loaded.config;
        if let Some(b) = self.bind {
            cfg.bind = b;
        }
        if let Some(p) = self.port {
            cfg.port = p;
        }
        if self.echo_endpoint {
            cfg.conformance.echo = true;
        }
        Ok((cfg, loaded.warnings))
    }
}

/// Where the server is, and the key of its HTTP API (`pub`, `replay`).
#[derive(clap::Args, Clone, Debug)]
pub struct HttpOpts {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000", env = "WAVECAST_SERVER")]
    pub server: String,
    /// The server API key (http.api_key), sent as Authorization: Bearer.
    #[arg(long, env = "WAVECAST_HTTP_API_KEY", hide_env_values = true)]
    pub http_key: Option<String>,
}

/// Where the server is, and the client credentials of the WebSocket
/// (`sub`).
#[derive(clap::Args, Clone, Debug)]
pub struct WsOpts {
    /// Server base URL; the WebSocket URL is derived from it (http://h:p →
    /// ws://h:p/ws).
    #[arg(long, default_value = "http://127.0.0.1:8000", env = "WAVECAST_SERVER")]
    pub server: String,
    /// A client API key (auth.api_keys, or a secret of [auth.keys]), sent
    /// as X-API-Key.
    #[arg(long)]
    pub api_key: Option<String>,
    /// A JWT, sent as Authorization: Bearer (see wavecast token).
    #[arg(long, conflicts_with = "api_key")]
    pub token: Option<String>,
}

/// The server and every credential (the load generator's options).
#[derive(clap::Args, Clone, Debug)]
pub struct ClientOpts {
    /// Server base URL; the WebSocket URL is derived from it.
    #[arg(long, default_value = "http://127.0.0.1:8000", env = "WAVECAST_SERVER")]
    pub server: String,
    /// The server API key, for publishing over HTTP.
    #[arg(long, env = "WAVECAST_HTTP_API_KEY")]
    pub http_key: Option<String>,
    /// An API key to authenticate the WebSocket connection.
    #[arg(long)]
    pub api_key: Option<String>,
    /// A JWT to authenticate the WebSocket connection.
    #[arg(long)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServerOpts),
    /// Print the effective configuration (every source merged, secrets
    /// redacted) as JSON.
    Config(ServerOpts),
    /// Check a configuration before serving it: the file, key files,
    /// origins, the history engine (Redis reachability, data_dir) and the
    /// open-file limit against limits.max_connections.
    Doctor(ServerOpts),
    /// Ask a running server whether it is ready (GET /ready): exit 0 when
    /// it is, 1 when it is not or cannot be reached (for health checks).
    Ready {
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8000", env = "WAVECAST_SERVER")]
        server: String,
    },
    /// Publish DATA (JSON; a non-JSON word is sent as a string) to CHANNEL
    /// over HTTP; without DATA, publish each line of stdin.
    Pub {
        channel: String,
        data: Option<String>,
        /// Event type (default "publication").
        #[arg(long = "type")]
        event: Option<String>,
        #[command(flatten)]
        http: HttpOpts,
    },
    /// Subscribe to channels and print every event as a JSON line;
    /// reconnects by itself and resumes without gaps where history allows.
    Sub {
        #[arg(required = true)]
        channels: Vec<String>,
        /// Exit after this many deliveries.
        #[arg(long)]
        count: Option<u64>,
        /// Resume after this offset (the last one you saw).
        #[arg(long)]
        recover: Option<u64>,
        /// The epoch of --recover (without it, any epoch is accepted).
        #[arg(long, requires = "recover")]
        epoch: Option<String>,
        /// Authenticate with an HMAC-signed auth message for --api-key.
        #[arg(long, requires = "api_key")]
        signed: bool,
        /// Exit when the connection is lost instead of reconnecting.
        #[arg(long)]
        no_reconnect: bool,
        #[command(flatten)]
        ws: WsOpts,
    },
    /// Mint a development JWT (HS256) with sub, channels, aud, iss, nbf,
    /// iat and exp.
    Token {
        /// The HS256 secret (the server's auth.jwt_secret).
        #[arg(long, env = "WAVECAST_JWT_SECRET", hide_env_values = true)]
        secret: String,
        /// The user id.
        #[arg(long)]
        sub: Option<String>,
        /// Channel patterns the token grants (comma-separated or repeated).
        #[arg(long)]
        channels: Vec<String>,
        /// Lifetime: 3600, 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The audience (the server's auth.jwt_audience); repeat for
        /// several.
        #[arg(long)]
        aud: Vec<String>,
        /// The issuer (the server's auth.jwt_issuer).
        #[arg(long)]
        iss: Option<String>,
        /// Not before: now, a duration from now (30s, -5m) or a Unix time.
        #[arg(long, allow_hyphen_values = true)]
        nbf: Option<String>,
        /// Any other claim, name=value (the value is JSON if it parses);
        /// repeatable, applied last.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// Print a signed HMAC auth message for --api-key, or --key-id with
    /// --secret.
    Sign {
        #[arg(long)]
        api_key: Option<String>,
        #[arg(long)]
        key_id: Option<String>,
        /// The secret of --key-id.
        #[arg(long)]
        secret: Option<String>,
        /// The timestamp to sign, in ms (default: now).
        #[arg(long)]
        timestamp: Option<u64>,
    },
    /// Publish an NDJSON recording (GET /api/history/{channel}/export) again.
    Replay {
        file: PathBuf,
        /// The channel to publish into.
        #[arg(long)]
        channel: String,
        /// Pace: a factor on the recorded gaps (2 = twice as fast), or max.
        #[arg(long, default_value = "1.0")]
        speed: String,
        #[command(flatten)]
        http: HttpOpts,
    },
    /// Load generator: fanout, throughput, connections, churn, mixed.
    Bench(Box<bench::BenchArgs>),
}

/// Logs to stderr; `text` is coloured only when stderr is a terminal
/// (not a file, a pipe or journald) and `NO_COLOR` is not set.
fn init_logging(cfg: &Config) {
    let level = match cfg.log.level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    if cfg.log.format == LogFormat::Text {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).init();
    } else {
        builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn serve(opts: ServerOpts) -> Result<(), String> {
    let (cfg, warnings) = opts.load()?;
    init_logging(&cfg);
    for w in warnings {
        tracing::warn!("configuration: {w}");
    }
    let server = Server::bind(cfg.clone())
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidInput {
                format!("invalid configuration: {e}")
            } else {
                format!("cannot listen on {}:{}: {e}", cfg.bind, cfg.port)
            }
        })?
        .with_assets(dashboard::assets());
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        api_key = if cfg.http.api_key.is_empty() { "none (loopback only)" } else { "set" },
        "wavecast listening: ws://{addr}/ws"
    );
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("wavecast stopped");
    Ok(())
}

/// `wavecast config`.
fn print_config(opts: &ServerOpts) -> Result<(), String> {
    let (cfg, warnings) = opts.load()?;
    for w in warnings {
        eprintln!("wavecast: warning: {w}");
    }
    let shown = serde_json::to_string_pretty(&cfg.redacted()).map_err(|e| e.to_string())?;
    println!("{shown}");
    Ok(())
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(o) => serve(o).await,
        Command::Config(o) => print_config(&o),
        Command::Doctor(o) => cli_doctor::run(o.config.as_deref(), o.bind, o.port).await,
        Command::Ready { server } => cli_client::ready(&server).await,
        Command::Pub {
            channel,
            data,
            event,
            http,
        } => cli_client::publish(&http, &channel, data, event).await,
        Command::Sub {
            channels,
            count,
            recover,
            epoch,
            signed,
            no_reconnect,
            ws,
        } => {
            let args = cli_sub::SubArgs {
                count,
                recover,
                epoch,
                signed,
                no_reconnect,
            };
            cli_sub::subscribe(&ws, &channels, args).await
        }
        Command::Token {
            secret,
            sub,
            channels,
            ttl,
            aud,
            iss,
            nbf,
            claims,
        } => {
            let spec = cli_token::TokenSpec {
                sub,
                channels,
                ttl,
                aud,
                iss,
                nbf,
                claims,
            };
            cli_token::token(&secret, &spec)
        }
        Command::Sign {
            api_key,
            key_id,
            secret,
            timestamp,
        } => cli_token::sign(api_key, key_id, secret, timestamp),
        Command::Replay {
            file,
            channel,
            speed,
            http,
        } => {
            let speed = cli_client::parse_speed(&speed)?;
            cli_client::replay(&http, &file, &channel, speed).await
        }
        Command::Bench(args) => bench::run(*args).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wavecast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wavecast: {e}");
            ExitCode::FAILURE
        }
    }
}
