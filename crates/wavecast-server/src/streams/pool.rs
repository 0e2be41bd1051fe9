//! [`SimPool`]: the threads that compute the simulation streams, apart
//! from the async workers and Tokio's blocking pool.
//!
//! - **Priority.** Each worker lowers its own scheduling priority to
//!   `streams.worker_nice` (Linux: a per-thread nice value) when it starts,
//!   so when the CPU is short the kernel gives it to the async workers that
//!   fan publications out, and simulations only use what is left. On
//!   Tokio's blocking pool every running stream held a thread of normal
//!   priority, so 100 busy streams outweighed the async workers 100 to 1.
//! - **Bounded threads.** `streams.workers` threads (default: one per
//!   core), whatever the number of streams; every step runs serially on
//!   its worker (parallelism comes from running several streams at once).
//! - **Earliest deadline first.** Jobs wait in one queue ordered by the
//!   time they are due (ties: submission order); a worker takes the
//!   earliest job once it is due, runs one slice of it, and the job says
//!   when it is due again. A periodic stream is due at its tick, a
//!   free-running one "now", behind every tick that fell due earlier.
//!
//! - **Batched delivery.** A job queues its frames without waking the
//!   connection's writer and hands the writer's waker to the worker
//!   ([`Wakes`]), which wakes them all once it has run every job that is
//!   due (at most [`MAX_BATCH`] jobs or [`MAX_HOLD`] later). Waking a
//!   writer per frame switched threads twice per frame, which cost more
//!   than a 64² step.
//!
//! Invariant: a job is in the queue or being run by exactly one worker,
//! never both, so its state needs no lock. Dropping the pool stops the
//! workers after their current slice and drops the queued jobs.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// What a job asks for after a slice.
pub enum Next {
    /// Run again once this instant has come.
    At(Instant),
    /// Finished: drop it.
    Done,
}

/// A unit of simulation work, run one slice at a time.
pub trait Job: Send {
    /// Runs one slice (bounded: one tick, or a few milliseconds of steps);
    /// the writers it queued frames for go into `wakes`.
    fn run(&mut self, wakes: &mut Wakes) -> Next;
}

/// Jobs a worker runs back to back before it wakes their writers.
pub const MAX_BATCH: usize = 256;

/// The longest a worker holds a queued frame's wake-up.
pub const MAX_HOLD: Duration = Duration::from_millis(2);

/// Writers to wake at the end of a worker's batch.
#[derive(Default)]
pub struct Wakes {
    wakers: Vec<Waker>,
    since: Option<Instant>,
}

impl Wakes {
    /// Adds a writer's waker (`None`: nothing to wake).
    pub fn defer(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.since.get_or_insert_with(Instant::now);
            self.wakers.push(w);
        }
    }

    /// Whether the batch must end now.
    fn full(&self) -> bool {
        self.wakers.len() >= MAX_BATCH || self.since.is_some_and(|t| t.elapsed() >= MAX_HOLD)
    }

    fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }

    /// Wakes every writer.
    pub fn flush(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
        self.since = None;
    }
}

struct Entry {
    due: Instant,
    order: u64,
    job: Box<dyn Job>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the max-heap pops the earliest `due`, then the lowest order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    order: u64,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The simulation worker threads and their queue.
pub struct SimPool {
    shared: Arc<Shared>,
    threads: usize,
}

impl SimPool {
    /// Starts `threads` workers (0: one per core) at nice value `nice`.
    pub fn start(threads: usize, nice: i32) -> SimPool {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let shared = Arc::new(Shared::default());
        let mut started = 0;
        for i in 0..threads {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("wavecast-sim-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    worker(&s);
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a simulation worker"),
            }
        }
        SimPool {
            shared,
            threads: started,
        }
    }

    /// Worker threads running.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job`, due at `due`.
    pub fn submit(&self, due: Instant, job: Box<dyn Job>) {
        push(&self.shared, due, job);
    }

    /// Jobs waiting (not being run).
    pub fn queued(&self) -> usize {
        self.shared.queue.lock().heap.len()
    }
}

impl Drop for SimPool {
    fn drop(&mut self) {
        let mut q = self.shared.queue.lock();
        q.stopped = true;
        q.heap.clear();
        drop(q);
        self.shared.wake.notify_all();
    }
}

fn push(shared: &Shared, due: Instant, job: Box<dyn Job>) {
    let mut q = shared.queue.lock();
    if q.stopped {
        return;
    }
    q.order += 1;
    let order = q.order;
    q.heap.push(Entry { due, order, job });
    drop(q);
    shared.wake.notify_one();
}

fn worker(shared: &Shared) {
    let mut wakes = Wakes::default();
    let mut q = shared.queue.lock();
    loop {
        if q.stopped {
            drop(q);
            wakes.flush();
            return;
        }
        let due = q.heap.peek().map(|e| e.due);
        let ready = due.is_some_and(|d| d <= Instant::now());
        if !wakes.is_empty() && (!ready || wakes.full()) {
            drop(q);
            wakes.flush();
            q = shared.queue.lock();
            continue;
        }
        match due {
            None => {
                shared.wake.wait(&mut q);
                continue;
            }
            Some(d) if !ready => {
                shared.wake.wait_until(&mut q, d);
                continue;
            }
            Some(_) => {}
        }
        let Some(mut entry) = q.heap.pop() else {
            continue;
        };
        // Another job is due too: let a sleeping worker take it.
        if q.heap.peek().is_some_and(|e| e.due <= Instant::now()) {
            shared.wake.notify_one();
        }
        drop(q);
        let next = entry.job.run(&mut wakes);
        q = shared.queue.lock();
        if let (Next::At(due), false) = (next, q.stopped) {
            q.order += 1;
            entry.due = due;
            entry.order = q.order;
            q.heap.push(entry);
        }
    }
}

/// Lowers the calling thread's priority to nice `nice` (Linux; elsewhere
/// a no-op). Raising it back would need privileges, so it is done once.
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        if nice <= 0 {
            return;
        }
        // SAFETY: gettid and setpriority take plain integers and touch no
        // memory of ours; on Linux the nice value of PRIO_PROCESS with a
        // thread id is that thread's.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if rc != 0 {
            tracing::warn!(
                nice,
                error = %std::io::Error::last_os_error(),
                "cannot lower the simulation worker's priority"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    struct Ticks {
        left: u32,
        every: Duration,
        tx: mpsc::Sender<(u32, Instant)>,
    }

    impl Job for Ticks {
        fn run(&mut self, _wakes: &mut Wakes) -> Next {
            let _ = self.tx.send((self.left, Instant::now()));
            self.left -= 1;
            if self.left == 0 {
                Next::Done
            } else {
                Next::At(Instant::now() + self.every)
            }
        }
    }

    #[test]
    fn runs_periodic_jobs_until_done() {
        let pool = SimPool::start(2, 10);
        assert_eq!(pool.threads(), 2);
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        for _ in 0..3 {
            let job = Ticks {
                left: 4,
                every: Duration::from_millis(5),
                tx: tx.clone(),
            };
            pool.submit(start, Box::new(job));
        }
        drop(tx);
        let got: Vec<_> = rx.iter().collect();
        assert_eq!(got.len(), 12);
        // The last of each job's 4 runs came at least 3 periods after start.
        let last = got.iter().map(|(_, at)| *at).max().unwrap_or(start);
        assert!(last.duration_since(start) >= Duration::from_millis(15));
        assert_eq!(pool.queued(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn workers_run_at_the_nice_value() {
        struct Nice(mpsc::Sender<i32>);
        impl Job for Nice {
            fn run(&mut self, _wakes: &mut Wakes) -> Next {
                // SAFETY: plain integer arguments; reads the calling
                // thread's nice value.
                let nice =
                    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
                let _ = self.0.send(nice);
                Next::Done
            }
        }
        let pool = SimPool::start(1, 7);
        let (tx, rx) = mpsc::channel();
        pool.submit(Instant::now(), Box::new(Nice(tx)));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
    }

    #[test]
    fn earliest_due_runs_first() {
        // One worker, held busy until three jobs with different due times
        // are queued: they must then run in due order.
        let pool = SimPool::start(1, 0);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        struct Gate(Option<mpsc::Receiver<()>>);
        impl Job for Gate {
            fn run(&mut self, _wakes: &mut Wakes) -> Next {
                if let Some(rx) = self.0.take() {
                    let _ = rx.recv_timeout(Duration::from_secs(5));
                }
                Next::Done
            }
        }
        struct Mark(u32, mpsc::Sender<u32>);
        impl Job for Mark {
            fn run(&mut self, _wakes: &mut Wakes) -> Next {
                let _ = self.1.send(self.0);
                Next::Done
            }
        }
        let now = Instant::now();
        pool.submit(now, Box::new(Gate(Some(gate_rx))));
        let (tx, rx) = mpsc::channel();
        for (id, ms) in [(3, 3u64), (1, 1), (2, 2)] {
            pool.submit(
                now + Duration::from_millis(ms),
                Box::new(Mark(id, tx.clone())),
            );
        }
        drop(tx);
        let _ = gate_tx.send(());
        let order: Vec<u32> = rx.iter().collect();
        assert_eq!(order, vec![1, 2, 3]);
    }
}
