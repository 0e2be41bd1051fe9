//! The `wavecast` command: `serve`, `config`, and the minimal `pub` / `sub`
//! client tools.

mod cli_client;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
}

impl ServerOpts {
    fn load(&self) -> Result<Config, String> {
        let mut cfg = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        if let Some(b) = self.bind {
            cfg.bind = b;
        }
        if let Some(p) = self.port {
            cfg.port = p;
        }
        Ok(cfg)
    }
}

#[derive(clap::Args, Clone)]
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
    /// Print the effective configuration (secrets redacted) as TOML-like JSON.
    Config(ServerOpts),
    /// Publish DATA (JSON; a non-JSON word is sent as a string) to CHANNEL;
    /// without DATA, publish each line of stdin.
    Pub {
        channel: String,
        data: Option<String>,
        /// Event type (default "publication").
        #[arg(long = "type")]
        event: Option<String>,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Subscribe to channels and print every frame as a JSON line.
    Sub {
        #[arg(required = true)]
        channels: Vec<String>,
        /// Exit after this many deliveries.
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        client: ClientOpts,
    },
}

fn init_logging(cfg: &Config) {
    let level = match cfg.log.level.as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    if cfg.log.format == "text" {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}

async fn shutdown_signal() {
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
    let cfg = opts.load()?;
    init_logging(&cfg);
    let server = Server::bind(cfg.clone()).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            format!("invalid configuration: {e}")
        } else {
            format!("cannot listen on {}:{}: {e}", cfg.bind, cfg.port)
        }
    })?;
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
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(o) => serve(o).await,
            Command::Config(o) => {
                let cfg = o.load()?;
                let shown =
                    serde_json::to_string_pretty(&cfg.redacted()).map_err(|e| e.to_string())?;
                println!("{shown}");
                Ok(())
            }
            Command::Pub {
                channel,
                data,
                event,
                client,
            } => cli_client::publish(&client, &channel, data, event).await,
            Command::Sub {
                channels,
                count,
                client,
            } => cli_client::subscribe(&client, &channels, count).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wavecast: {e}");
            ExitCode::FAILURE
        }
    }
}
