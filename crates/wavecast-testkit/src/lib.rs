//! Test support shared by wavecast's crates (`publish = false`). Every
//! part is real: servers listen on 127.0.0.1, clients use real sockets,
//! Redis is a `redis-server` started on a free port. Every wait is bounded
//! by [`WAIT`].
//!
//! - [`server`]: an in-process server ([`TestServer`]) with an HTTP client.
//! - [`ws`]: a WebSocket test client ([`WsClient`]) and protocol helpers.
//! - [`raw`]: a raw WebSocket client ([`RawWs`]) that writes and reads
//!   frames byte for byte (for protocol violations and silent clients).
//! - [`process`]: the `wavecast` binary as a server ([`ServerProcess`]).
//! - [`redis`]: a real `redis-server` ([`RedisProcess`]).
//! - [`proxy`]: a TCP proxy a test can cut ([`Proxy`]).
//! - [`sse`]: a Server-Sent Events client ([`SseClient`]).
//! - [`tls`]: self-signed certificates made in the test ([`TestCert`])
//!   and `wss://` connections that trust them.

pub mod process;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod server;
pub mod sse;
pub mod tls;
pub mod ws;

use std::time::Duration;

pub use process::ServerProcess;
pub use proxy::Proxy;
pub use raw::RawWs;
pub use redis::RedisProcess;
pub use server::TestServer;
pub use sse::{SseClient, SseEvent};
pub use tls::TestCert;
pub use ws::{offsets_until, subscribe_ok, Event, WsClient};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether something listens on `127.0.0.1:port`. A connect to a port
/// nobody listens on can succeed all the same, to itself (TCP's
/// simultaneous open, when the kernel picks that port as the source):
/// that is not a listener, and it holds the port the server wants.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wavecast-{tag}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
