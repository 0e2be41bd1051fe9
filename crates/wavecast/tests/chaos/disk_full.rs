//! The disk-full scenario: the embedded store's data directory on a small
//! tmpfs (`mount -t tmpfs -o size=64m`), filled up by a file while the
//! workload runs. A write that fails poisons the store (fjall refuses
//! every later write), so the server refuses publishes and reports
//! `/ready` 503 until the operator frees space and restarts it. Where
//! mounting is not permitted the test says so and passes without running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::workload::{http, Load};
use super::{assert_nothing_lost, common, HISTORY, LOAD, PACE};

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let dir = wavecast_testkit::temp_dir("tmpfs");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let Ok(mut f) = std::fs::File::create(path) else {
        return;
    };
    let chunk = vec![0u8; 256 << 10];
    while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
    let _ = f.sync_all();
}

/// Publishes to a probe channel until the answer's status is (or is not)
/// 200, within `bound`; returns whether it happened.
async fn wait_publish(port: u16, ok: bool, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    let body = r#"{"channel":"h:probe","data":{"pad":"probe"}}"#;
    while Instant::now() < deadline {
        let r = http(port, "POST", "/api/publish", body, Duration::from_secs(3)).await;
        if matches!(r, Ok((200, _))) == ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_publishes_loses_nothing_and_recovers() {
    let Some(fs) = Tmpfs::mount(64) else {
        eprintln!("SKIPPED: mount -t tmpfs is not permitted here");
        return;
    };
    let data = fs.0.join("data");
    let data_text = data.display().to_string();
    let env = [
        HISTORY[0],
        HISTORY[1],
        ("WAVECAST_DATA_DIR", data_text.as_str()),
    ];
    let srv = common::start(&env);
    let load = Load::start(srv.port, PACE, 4096).await;
    tokio::time::sleep(LOAD).await;
    let filler = fs.0.join("filler");
    fill(&filler);
    let refused = wait_publish(srv.port, false, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ready, _) = common::http(srv.port, "GET", "/ready", "");
    let _ = std::fs::remove_file(&filler);
    let srv = srv.restart();
    let resumed = wait_publish(srv.port, true, Duration::from_secs(15)).await;
    tokio::time::sleep(LOAD).await;
    let r = load
        .finish("embedded, disk full (64 MiB tmpfs), freed, restarted")
        .await;
    let log = srv.log_text();
    assert!(
        refused,
        "publishes were never refused on a full disk\n{log}"
    );
    assert_eq!(ready, 503, "/ready while the store is stopped");
    assert!(
        resumed,
        "publishing did not resume after the restart\n{log}"
    );
    assert_nothing_lost(&r);
}
