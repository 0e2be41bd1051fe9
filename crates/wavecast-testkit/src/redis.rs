//! A real `redis-server` on a free port, killed (and its directory
//! removed) on drop.

use std::time::Duration;

use crate::WAIT;

/// A real redis-server on a free port, killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: std::process::Child,
    pub dir: std::path::PathBuf,
}

impl RedisProcess {
    /// Starts redis-server; `persistent` turns on the append-only file so
    /// a restart keeps the data.
    pub fn start(persistent: bool) -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir =
            std::env::temp_dir().join(format!("wavecast-redis-{port}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        Self::spawn(port, dir, persistent)
    }

    fn spawn(port: u16, dir: std::path::PathBuf, persistent: bool) -> RedisProcess {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if persistent { "yes" } else { "no" },
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisProcess { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills redis-server and starts it again on the same port and dir.
    pub fn restart(&mut self, persistent: bool) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let fresh = Self::spawn(self.port, self.dir.clone(), persistent);
        let old = std::mem::replace(self, fresh);
        std::mem::forget(old);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
