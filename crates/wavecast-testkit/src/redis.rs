//! A real `redis-server` on a free port, killed (and its directory
//! removed) on drop.

use std::time::Duration;

use crate::WAIT;

/// A real redis-server on a free port, killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: std::process::Child,
    pub dir: std::path::PathBuf,
    extra: Vec<String>,
}

impl RedisProcess {
    /// Starts redis-server; `persistent` turns on the append-only file so
    /// a restart keeps the data.
    pub fn start(persistent: bool) -> RedisProcess {
        Self::start_with(persistent, &[])
    }

    /// With extra `redis-server` arguments (e.g. `["--requirepass", "pw"]`).
    pub fn start_with(persistent: bool, extra: &[&str]) -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir =
            std::env::temp_dir().join(format!("wavecast-redis-{port}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let extra = extra.iter().map(|a| a.to_string()).collect();
        Self::spawn(port, dir, persistent, extra)
    }

    fn spawn(
        port: u16,
        dir: std::path::PathBuf,
        persistent: bool,
        extra: Vec<String>,
    ) -> RedisProcess {
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
            .args(&extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let deadline = std::time::Instant::now() + WAIT;
        while !crate::listening(port) {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisProcess {
            port,
            child,
            dir,
            extra,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `SAVE`: the data so far goes to the RDB file, which a restart
    /// without the append-only file loads (anything later is lost).
    pub fn save(&self) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        s.write_all(b"SAVE\r\n").expect("write");
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).expect("reply");
        assert_eq!(&reply, b"+OK\r\n");
    }

    /// Kills redis-server and starts it again on the same port and dir.
    pub fn restart(&mut self, persistent: bool) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let fresh = Self::spawn(self.port, self.dir.clone(), persistent, self.extra.clone());
        let old = std::mem::replace(self, fresh);
        std::mem::forget(old);
    }
}

impl RedisProcess {
    /// The redis-server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills redis-server (SIGKILL) and leaves it down.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to redis-server.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -s {signal} failed");
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
