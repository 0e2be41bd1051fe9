//! The `system` source: this host's CPU, memory, disk, network and load,
//! read with `sysinfo` on the blocking pool (it reads `/proc`).
//!
//! Shape (`resources`, `resource_update`): `{cpu: {percent, cores},
//! memory: {total_bytes, used_bytes, percent}, disk: {total_bytes,
//! used_bytes, percent}, network: {rx_bytes_per_s, tx_bytes_per_s},
//! load: {one, five, fifteen}, devices, averages: {cpu_percent,
//! memory_percent, storage_percent}}`. CPU and network rates are since
//! the previous tick (the first tick's CPU is since the source started).

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sysinfo::{Disks, Networks, System};

/// One reading of the host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostReading {
    pub cpu_percent: f64,
    pub cores: usize,
    pub memory_total: u64,
    pub memory_used: u64,
    pub disk_total: u64,
    pub disk_used: u64,
    pub rx_per_s: f64,
    pub tx_per_s: f64,
    pub load: [f64; 3],
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 10_000.0).round() / 100.0
    }
}

impl HostReading {
    pub fn memory_percent(&self) -> f64 {
        percent(self.memory_used, self.memory_total)
    }

    pub fn disk_percent(&self) -> f64 {
        percent(self.disk_used, self.disk_total)
    }
}

/// `sysinfo`'s handles, kept between readings.
pub struct HostProbe {
    system: System,
    disks: Disks,
    networks: Networks,
    last: Instant,
}

impl HostProbe {
    pub fn new() -> HostProbe {
        let mut system = System::new();
        system.refresh_cpu_usage();
        HostProbe {
            system,
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
            last: Instant::now(),
        }
    }

    /// Reads the host (blocking: a few `/proc` reads).
    pub fn read(&mut self) -> HostReading {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        self.last = Instant::now();
        let (mut disk_total, mut disk_used) = (0u64, 0u64);
        for d in self.disks.list() {
            disk_total = disk_total.saturating_add(d.total_space());
            disk_used =
                disk_used.saturating_add(d.total_space().saturating_sub(d.available_space()));
        }
        let (mut rx, mut tx) = (0u64, 0u64);
        for (_, n) in self.networks.iter() {
            rx = rx.saturating_add(n.received());
            tx = tx.saturating_add(n.transmitted());
        }
        let load = System::load_average();
        HostReading {
            cpu_percent: (f64::from(self.system.global_cpu_usage()) * 100.0).round() / 100.0,
            cores: self.system.cpus().len(),
            memory_total: self.system.total_memory(),
            memory_used: self.system.used_memory(),
            disk_total,
            disk_used,
            rx_per_s: (rx as f64 / secs).round(),
            tx_per_s: (tx as f64 / secs).round(),
            load: [load.one, load.five, load.fifteen],
        }
    }
}

impl Default for HostProbe {
    fn default() -> Self {
        HostProbe::new()
    }
}

/// Reads `probe` on the blocking pool.
pub async fn read_host(probe: &Arc<Mutex<HostProbe>>) -> Result<HostReading, String> {
    let probe = probe.clone();
    tokio::task::spawn_blocking(move || probe.lock().read())
        .await
        .map_err(|e| format!("system reading failed: {e}"))
}

/// The `system` source.
pub struct SystemSource {
    probe: Arc<Mutex<HostProbe>>,
}

impl Default for SystemSource {
    fn default() -> Self {
        SystemSource::new()
    }
}

impl SystemSource {
    pub fn new() -> SystemSource {
        SystemSource {
            probe: Arc::new(Mutex::new(HostProbe::new())),
        }
    }

    pub async fn collect(&mut self) -> Result<Value, String> {
        let r = read_host(&self.probe).await?;
        Ok(json!({
            "cpu": {"percent": r.cpu_percent, "cores": r.cores},
            "memory": {
                "total_bytes": r.memory_total,
                "used_bytes": r.memory_used,
                "percent": r.memory_percent(),
            },
            "disk": {
                "total_bytes": r.disk_total,
                "used_bytes": r.disk_used,
                "percent": r.disk_percent(),
            },
            "network": {"rx_bytes_per_s": r.rx_per_s, "tx_bytes_per_s": r.tx_per_s},
            "load": {"one": r.load[0], "five": r.load[1], "fifteen": r.load[2]},
            "devices": 1,
            "averages": {
                "cpu_percent": r.cpu_percent,
                "memory_percent": r.memory_percent(),
                "storage_percent": r.disk_percent(),
            },
        }))
    }
}
