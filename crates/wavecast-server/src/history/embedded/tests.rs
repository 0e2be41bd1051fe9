//! The embedded store against a real fjall directory.

use super::*;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wavecast-test-{name}-{}", fastrand::u64(..)));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn append(e: &EmbeddedStore, ch: &str, data: &str, ts: u64, r: &Retention) -> u64 {
    let p = Append {
        channel: ch,
        event: "p",
        data: data.as_bytes(),
        ts_ms: ts,
        idempotency_key: None,
    };
    e.append(p, r).unwrap().0
}

#[test]
fn persists_offsets_and_epoch_across_a_clean_reopen() {
    let dir = tmp("reopen");
    let r = Retention {
        size: 3,
        ttl: Duration::ZERO,
    };
    let epoch = {
        let e = EmbeddedStore::open(&dir, Some(Duration::from_millis(5)), 100).unwrap();
        for i in 1..=5u64 {
            assert_eq!(append(&e, "ch", &format!("{{\"i\":{i}}}"), 1, &r), i);
        }
        append(&e, "ch2", "1", 1, &r);
        e.top("ch", &r, 2).unwrap().epoch
    };
    let e = EmbeddedStore::open(&dir, None, 100).unwrap();
    assert_eq!(e.incarnation(), 0);
    let top = e.top("ch", &r, 2).unwrap();
    assert_eq!(
        (top.offset, top.earliest, top.epoch.as_str()),
        (5, 3, epoch.as_str())
    );
    let got = e.read("ch", 3, 10, usize::MAX, &r, 2).unwrap();
    assert_eq!(got.iter().map(|p| p.offset).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(&got[1].data[..], b"{\"i\":5}");
    assert_eq!(append(&e, "ch", "6", 3, &r), 6);
    assert_eq!(e.latest("ch", &r, 3).unwrap().unwrap().offset, 6);
    assert_eq!(e.top("ch2", &r, 3).unwrap().offset, 1);
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Leaves the store as a process killed while it was open leaves it: the
/// `running` marker set (a killed process cannot be simulated in-process,
/// since the store's directory lock is held until the process exits).
fn mark_running(dir: &std::path::Path) {
    let db = Database::builder(dir).open().unwrap();
    let sys = db.keyspace("sys", KeyspaceCreateOptions::default).unwrap();
    sys.insert("running", [1u8]).unwrap();
    db.persist(PersistMode::SyncAll).unwrap();
}

#[test]
fn a_killed_process_keeps_its_epochs_and_a_machine_crash_changes_them() {
    let dir = tmp("unclean");
    let r = Retention {
        size: 10,
        ttl: Duration::ZERO,
    };
    let open = |boot: &str| {
        EmbeddedStore::open_at_boot(&dir, None, 100, Default::default(), boot.into()).unwrap()
    };
    let e = open("boot-1");
    append(&e, "ch", "1", 1, &r);
    let before = e.top("ch", &r, 1).unwrap();
    drop(e);
    // The process was killed: the marker stays set, the boot is the same.
    mark_running(&dir);
    let e = open("boot-1");
    assert_eq!(e.incarnation(), 0, "a killed process lost nothing");
    assert_eq!(e.top("ch", &r, 1).unwrap(), before);
    drop(e);
    // The machine restarted while the store was open.
    mark_running(&dir);
    let e = open("boot-2");
    assert_eq!(e.incarnation(), 1);
    let after = e.top("ch", &r, 1).unwrap();
    assert_eq!(after.offset, before.offset, "what was synced is kept");
    assert_ne!(after.epoch, before.epoch, "clients are told");
    drop(e);
    // A clean stop and a reboot change nothing.
    let e = open("boot-3");
    assert_eq!(e.incarnation(), 1);
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restored_copy_changes_every_epoch() {
    let dir = tmp("restore");
    let r = Retention {
        size: 10,
        ttl: Duration::ZERO,
    };
    let e = EmbeddedStore::open(&dir, None, 100).unwrap();
    append(&e, "ch", "1", 1, &r);
    let before = e.top("ch", &r, 1).unwrap();
    drop(e);
    // Copy the directory (a backup) and restore the copy.
    let copy = tmp("restore-copy");
    copy_dir(&dir, &copy);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&copy, &dir).unwrap();
    let e = EmbeddedStore::open(&dir, None, 100).unwrap();
    assert_eq!(e.incarnation(), 1);
    assert_ne!(e.top("ch", &r, 1).unwrap().epoch, before.epoch);
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn ttl_trims_and_many_appends_stay_fast() {
    let dir = tmp("ttl");
    let e = EmbeddedStore::open(&dir, Some(Duration::from_millis(5)), 100).unwrap();
    let r = Retention {
        size: 100,
        ttl: Duration::from_secs(10),
    };
    for i in 1..=20u64 {
        append(&e, "t", "1", i * 1000, &r);
    }
    // At 25 s, entries older than 15 s (offsets 1..=14) are gone.
    let top = e.top("t", &r, 25_000).unwrap();
    assert_eq!((top.offset, top.earliest), (20, 15));
    assert_eq!(
        e.read("t", 0, 100, usize::MAX, &r, 25_000).unwrap().len(),
        6
    );
    // Trimming is point deletes: 20,000 appends with size 10 stay cheap.
    let small = Retention {
        size: 10,
        ttl: Duration::ZERO,
    };
    let started = std::time::Instant::now();
    for _ in 0..20_000 {
        append(&e, "busy", "1", 1, &small);
    }
    let top = e.top("busy", &small, 1).unwrap();
    assert_eq!((top.offset, top.earliest), (20_000, 19_991));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn released_empty_channels_leave_no_records() {
    let dir = tmp("release");
    let r = Retention {
        size: 10,
        ttl: Duration::from_secs(1),
    };
    let e = EmbeddedStore::open(&dir, Some(Duration::from_millis(5)), 100).unwrap();
    for i in 0..500 {
        let ch = format!("c{i}");
        e.retain(&ch);
        e.release(&ch, Some(&r), 0);
    }
    append(&e, "h", "1", 0, &r);
    e.release("h", Some(&r), 0);
    assert_eq!(e.channels(), 1);
    assert_eq!(e.sweep(&|_| Some(r), 10_000), 1);
    assert_eq!(e.channels(), 0);
    drop(e);
    let e = EmbeddedStore::open(&dir, None, 100).unwrap();
    assert_eq!(e.channels(), 0, "no meta record survives");
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deep_data_comes_back_byte_for_byte() {
    let dir = tmp("deep");
    let r = Retention {
        size: 10,
        ttl: Duration::ZERO,
    };
    let e = EmbeddedStore::open(&dir, None, 100).unwrap();
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    append(&e, "d", &deep, 1, &r);
    let got = e.read("d", 0, 10, usize::MAX, &r, 1).unwrap();
    assert_eq!(&got[0].data[..], deep.as_bytes());
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With the default budget, fjall would keep 64 MiB of writes per keyspace
/// in memory; `memtable_bytes` makes it write them out to table files.
#[test]
fn the_memtable_budget_bounds_the_engine_memory() {
    let dir = tmp("budget");
    let budget = MemoryBudget {
        memtable_bytes: 1 << 20,
        cache_bytes: 1 << 20,
    };
    let e = EmbeddedStore::open_with(&dir, Some(Duration::from_millis(5)), 100, budget).unwrap();
    let r = Retention {
        size: 100,
        ttl: Duration::ZERO,
    };
    let data = format!("\"{}\"", "x".repeat(4000));
    let mut peak = 0;
    for i in 0..2000u64 {
        append(&e, "ch", &data, i, &r);
        peak = peak.max(e.engine_memory().0);
    }
    // 8 MB were written (and all but the last 100 trimmed again).
    // Written out by fjall's background flush: poll, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.engine_memory().0 > 2 << 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (memtables, cache) = e.engine_memory();
    assert!(
        memtables <= 2 << 20,
        "memtables {memtables} B after 8 MB written"
    );
    assert!(peak < 6 << 20, "memtables peaked at {peak} B");
    assert!(cache <= 1 << 20, "cache {cache} B");
    assert_eq!(
        e.read("ch", 1990, 10, usize::MAX, &r, 2000).unwrap().len(),
        10
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A release racing appends to the same channel (the last subscriber
/// leaving while a publisher publishes) must not drop the log an append
/// just filled: the offsets keep counting.
#[test]
fn a_release_racing_appends_never_resets_the_offsets() {
    let dir = tmp("release-race");
    let r = Retention {
        size: 10_000,
        ttl: Duration::ZERO,
    };
    let e = Arc::new(EmbeddedStore::open(&dir, Some(Duration::from_millis(5)), 100).unwrap());
    for round in 0..20u64 {
        let ch = format!("race{round}");
        let stop = Arc::new(AtomicBool::new(false));
        let releaser = {
            let (e, ch, stop) = (e.clone(), ch.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    e.retain(&ch);
                    e.release(&ch, Some(&r), 1);
                }
            })
        };
        for i in 1..=50u64 {
            assert_eq!(append(&e, &ch, "1", 1, &r), i, "round {round}");
        }
        stop.store(true, Ordering::Release);
        releaser.join().unwrap();
    }
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `n` channel names whose write orders are different stripes.
fn on_distinct_stripes(n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in 0.. {
        let c = format!("ch{i}");
        if out.iter().all(|o| stripe(o) != stripe(&c)) {
            out.push(c);
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// An eviction runs inside another channel's append. A log whose own
/// append (retain, release) is in flight must not be dropped under it,
/// or that append would hand out an offset of a log that is gone.
#[test]
fn eviction_passes_over_a_log_being_written() {
    let dir = tmp("evict-order");
    let r = Retention {
        size: 10,
        ttl: Duration::ZERO,
    };
    let names = on_distinct_stripes(4);
    let (busy, other, new, last) = (&names[0], &names[1], &names[2], &names[3]);
    let e = EmbeddedStore::open(&dir, None, 2).unwrap();
    append(&e, busy, "1", 1, &r);
    append(&e, other, "1", 2, &r);
    {
        // `busy` is the least recently used, but its append is in flight.
        let _writing = e.write_order(busy);
        assert_eq!(append(&e, new, "1", 3, &r), 1);
    }
    assert_eq!(
        e.top(busy, &r, 4).unwrap().offset,
        1,
        "the log being written stays"
    );
    assert_eq!(
        e.top(other, &r, 4).unwrap().offset,
        0,
        "the next oldest went"
    );
    {
        let _a = e.write_order(busy);
        let _b = e.write_order(new);
        let p = Append {
            channel: last,
            event: "p",
            data: b"1",
            ts_ms: 5,
            idempotency_key: None,
        };
        let full = e.append(p, &r);
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
    }
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}
