//! Whether a store being opened may have lost writes it handed out.
//!
//! - The `running` marker is set at open and removed by a clean close.
//! - Every commit reaches the OS before it is acknowledged, so a process
//!   that was killed (same boot) lost nothing; a machine that crashed or
//!   lost power (the boot id changed while the marker was set) may have
//!   lost up to one fsync interval.
//! - A copy of the directory restored from a backup rewinds the log, even
//!   if it was closed cleanly: the identity file's inode, recorded inside
//!   the store, no longer matches the file's (a copy gets new inodes; a
//!   move keeps them).
//!
//! `WAVECAST_BOOT_ID_FILE` names another boot id file (tests use it to
//! simulate a machine restart).

use std::path::Path;

/// The identity file, inside the data directory.
const IDENTITY_FILE: &str = "wavecast.identity";

/// What is known at open.
pub struct StartFacts {
    pub unclean: bool,
    pub stored_boot: Option<Vec<u8>>,
    pub boot: String,
    pub stored_identity: Option<u64>,
    pub identity: u64,
}

impl StartFacts {
    /// Why the store may have lost writes, or `None`.
    pub fn may_have_lost_writes(&self) -> Option<&'static str> {
        if self.stored_identity.is_some_and(|i| i != self.identity) {
            return Some("the data directory was restored from a copy");
        }
        if self.unclean && self.stored_boot.as_deref() != Some(self.boot.as_bytes()) {
            return Some("the machine restarted while the store was open");
        }
        None
    }
}

/// This boot's id (Linux), or a constant where there is none.
pub fn boot_id() -> String {
    let path = std::env::var("WAVECAST_BOOT_ID_FILE")
        .unwrap_or_else(|_| "/proc/sys/kernel/random/boot_id".into());
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The inode of the identity file, created (and synced) if missing.
pub fn identity_inode(dir: &Path) -> std::io::Result<u64> {
    let path = dir.join(IDENTITY_FILE);
    if !path.exists() {
        let f = std::fs::File::create(&path)?;
        f.sync_all()?;
    }
    inode(&path)
}

#[cfg(unix)]
fn inode(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.ino())
}

#[cfg(not(unix))]
fn inode(_path: &Path) -> std::io::Result<u64> {
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(unclean: bool, boot: &str, identity: u64) -> StartFacts {
        StartFacts {
            unclean,
            stored_boot: Some(b"b1".to_vec()),
            boot: boot.into(),
            stored_identity: Some(1),
            identity,
        }
    }

    #[test]
    fn the_rule() {
        assert_eq!(facts(false, "b1", 1).may_have_lost_writes(), None);
        assert_eq!(
            facts(true, "b1", 1).may_have_lost_writes(),
            None,
            "killed process"
        );
        assert!(
            facts(true, "b2", 1).may_have_lost_writes().is_some(),
            "machine crash"
        );
        assert_eq!(
            facts(false, "b2", 1).may_have_lost_writes(),
            None,
            "clean stop, reboot"
        );
        assert!(
            facts(false, "b1", 2).may_have_lost_writes().is_some(),
            "restored copy"
        );
    }
}
