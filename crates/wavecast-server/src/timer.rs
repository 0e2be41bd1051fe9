//! A coarse timer wheel shared by every session, for deadlines that may
//! fire up to one tick late: heartbeats and the auth and token deadlines.
//!
//! A session registers its waker for a deadline once (24 bytes in a slot)
//! instead of holding a timer of its own in its task (112 bytes a
//! connection). One driver task sleeps until the next tick that holds a
//! deadline (ticks are [`TICK`] apart), wakes the tasks whose tick has
//! come, and plans again; it parks while the wheel is empty and stops when
//! the server shuts down.
//!
//! Invariants:
//! - a deadline fires at or after its instant, never before: deadlines are
//!   rounded up to a tick, and a tick is processed once it has passed;
//! - [`Wheel::reached`] turns true for a deadline only after its tick was
//!   processed, so a woken task sees it reached;
//! - a task holds one entry at most: moving its deadline ([`Wheel::rearm`])
//!   removes the old entry, and a task that ends removes its own
//!   ([`Wheel::cancel`]), so no waker keeps a finished task's memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The wheel's resolution.
pub const TICK: Duration = Duration::from_millis(10);
/// Slots: 4,096 ticks (41 s) before a slot is visited again; a deadline
/// further away stays in its slot for more turns.
const SLOTS: usize = 4096;

/// The shared timer.
pub struct Wheel {
    start: Instant,
    /// Every tick up to this one has fired.
    reached: AtomicU64,
    slots: Mutex<Slots>,
    /// Wakes the parked driver when the first deadline arrives.
    work: Notify,
    driver: AtomicBool,
    stop: CancellationToken,
}

struct Slots {
    wheel: Box<[Vec<(u64, Waker)>]>,
    pending: usize,
    /// The tick the driver sleeps until (`u64::MAX`: parked, or busy).
    planned: u64,
}

impl Wheel {
    /// A wheel whose driver (started by the first deadline) stops when
    /// `stop` is cancelled.
    pub fn new(stop: CancellationToken) -> Arc<Wheel> {
        Arc::new(Wheel {
            start: Instant::now(),
            reached: AtomicU64::new(0),
            slots: Mutex::new(Slots {
                wheel: (0..SLOTS).map(|_| Vec::new()).collect(),
                pending: 0,
                planned: u64::MAX,
            }),
            work: Notify::new(),
            driver: AtomicBool::new(false),
            stop,
        })
    }

    /// The first tick at or after `at`.
    pub fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.start).as_nanos();
        u64::try_from(d.div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX)
    }

    /// The last tick at or before `now`.
    fn passed(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(d / TICK.as_nanos()).unwrap_or(u64::MAX)
    }

    /// When tick `tick` comes.
    fn instant_of(&self, tick: u64) -> Instant {
        let nanos = u64::try_from(TICK.as_nanos()).unwrap_or(u64::MAX);
        self.start + Duration::from_nanos(nanos.saturating_mul(tick))
    }

    /// Whether tick `tick` has fired.
    pub fn reached(&self, tick: u64) -> bool {
        self.reached.load(Ordering::Acquire) >= tick
    }

    /// Wakes `waker` once tick `tick` has fired (at once if it has). The
    /// first call starts the driver on the current Tokio runtime.
    pub fn register(self: &Arc<Self>, tick: u64, waker: &Waker) {
        if !self.driver.load(Ordering::Acquire) {
            self.start_driver();
        }
        let mut s = self.slots.lock();
        // `reached` only moves under this lock: a tick not yet reached
        // here will be processed after this entry is in its slot.
        if self.reached(tick) {
            drop(s);
            waker.wake_by_ref();
            return;
        }
        // Indexed by the tick, wrapped: a far deadline waits out turns.
        s.wheel[slot_of(tick)].push((tick, waker.clone()));
        s.pending += 1;
        // An earlier deadline than the driver sleeps for: wake it to plan
        // again. (Under the lock, so a plan never misses an entry.)
        if tick < s.planned {
            s.planned = u64::MAX;
            drop(s);
            self.work.notify_one();
        }
    }

    /// Moves `waker`'s deadline from tick `old` (0: none) to tick `new`.
    /// The old entry is removed, so a task keeps one entry at most.
    pub fn rearm(self: &Arc<Self>, old: u64, new: u64, waker: &Waker) {
        if old != 0 {
            self.cancel(old, waker);
        }
        self.register(new, waker);
    }

    /// Removes `waker`'s entry for tick `tick`, if it has not fired: a
    /// finished task's waker must not keep its memory until the deadline.
    pub fn cancel(&self, tick: u64, waker: &Waker) {
        let mut s = self.slots.lock();
        let slot = &mut s.wheel[slot_of(tick)];
        let Some(i) = slot
            .iter()
            .position(|(t, w)| *t == tick && w.will_wake(waker))
        else {
            return;
        };
        slot.swap_remove(i);
        if slot.is_empty() {
            *slot = Vec::new();
        }
        s.pending -= 1;
    }

    fn start_driver(self: &Arc<Self>) {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                if !self.driver.swap(true, Ordering::AcqRel) {
                    rt.spawn(drive(self.clone()));
                }
            }
            Err(_) => tracing::error!("timer wheel used outside a Tokio runtime"),
        }
    }

    /// Fires every tick up to `now`'s; returns the wakers due.
    fn advance(&self, now: Instant) -> Vec<Waker> {
        let now_tick = self.passed(now);
        let mut due = Vec::new();
        let mut s = self.slots.lock();
        let from = self.reached.load(Ordering::Acquire) + 1;
        // After a stall, one visit of each slot fires all that is due.
        let first = from.max(now_tick.saturating_sub(SLOTS as u64 - 1));
        for t in first..=now_tick {
            let slot = &mut s.wheel[slot_of(t)];
            let before = slot.len();
            slot.retain(|(at, w)| {
                let fire = *at <= now_tick;
                if fire {
                    due.push(w.clone());
                }
                !fire
            });
            let fired = before - slot.len();
            if slot.is_empty() {
                // Give the room back: slots fill and empty in waves.
                *slot = Vec::new();
            }
            s.pending -= fired;
        }
        self.reached.fetch_max(now_tick, Ordering::AcqRel);
        due
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.slots.lock().pending
    }

    /// The first tick after the last one reached whose slot holds an
    /// entry (`None`: the wheel is empty); the driver sleeps until then.
    /// An entry may be a turn later than that tick: the driver then wakes
    /// once for nothing and plans again.
    fn plan(&self) -> Option<u64> {
        let mut s = self.slots.lock();
        let from = self.reached.load(Ordering::Acquire) + 1;
        let next = if s.pending == 0 {
            None
        } else {
            (from..from + SLOTS as u64).find(|t| !s.wheel[slot_of(*t)].is_empty())
        };
        s.planned = next.unwrap_or(u64::MAX);
        next
    }
}

fn slot_of(tick: u64) -> usize {
    (tick % SLOTS as u64) as usize
}

/// The driver: sleeps until the next tick with an entry (or until an
/// earlier deadline arrives), fires what is due, and plans again.
async fn drive(wheel: Arc<Wheel>) {
    loop {
        let Some(next) = wheel.plan() else {
            tokio::select! {
                () = wheel.work.notified() => {}
                () = wheel.stop.cancelled() => return,
            }
            continue;
        };
        let next = wheel.instant_of(next);
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = wheel.work.notified() => continue,
            () = wheel.stop.cancelled() => return,
        }
        for w in wheel.advance(Instant::now()) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fires_each_deadline_once_in_its_turn_and_never_early() {
        // No runtime here: the driver does not start; ticks are advanced
        // by hand.
        let w = Wheel::new(CancellationToken::new());
        let at = |t: u64| w.instant_of(t);
        let (near, near_w) = counter();
        let (far, far_w) = counter();
        w.register(3, &near_w);
        // The same slot, one turn later.
        w.register(3 + SLOTS as u64, &far_w);
        assert!(w.advance(at(2)).is_empty());
        assert!(!w.reached(3));
        for waker in w.advance(at(3)) {
            waker.wake();
        }
        assert!(w.reached(3));
        assert_eq!(near.0.load(Ordering::SeqCst), 1);
        assert_eq!(far.0.load(Ordering::SeqCst), 0);
        assert_eq!(w.pending(), 1);
        // A deadline already reached wakes at once and is not kept.
        let (late, late_w) = counter();
        w.register(2, &late_w);
        assert_eq!(late.0.load(Ordering::SeqCst), 1);
        assert_eq!(w.pending(), 1);
        // After a stall longer than a turn, everything due fires.
        for waker in w.advance(at(5 + 2 * SLOTS as u64)) {
            waker.wake();
        }
        assert_eq!(far.0.load(Ordering::SeqCst), 1);
        assert_eq!(w.pending(), 0);
        assert_eq!(w.tick_of(at(7)), 7);
        // Moving a deadline leaves one entry; cancelling leaves none.
        let (moved, moved_w) = counter();
        w.register(10 + 2 * SLOTS as u64, &moved_w);
        w.rearm(10 + 2 * SLOTS as u64, 20 + 2 * SLOTS as u64, &moved_w);
        assert_eq!(w.pending(), 1);
        w.cancel(20 + 2 * SLOTS as u64, &moved_w);
        assert_eq!(w.pending(), 0);
        assert!(w.advance(at(30 + 2 * SLOTS as u64)).is_empty());
        assert_eq!(moved.0.load(Ordering::SeqCst), 0);
        assert_eq!(w.tick_of(at(7) + Duration::from_nanos(1)), 8);
    }

    #[tokio::test]
    async fn the_driver_wakes_a_task_at_its_deadline() {
        let stop = CancellationToken::new();
        let w = Wheel::new(stop.clone());
        // The driver first plans for a far deadline; nearer ones that come
        // later must still fire on time.
        let (far, far_w) = counter();
        w.register(w.tick_of(Instant::now() + Duration::from_secs(60)), &far_w);
        tokio::task::yield_now().await;
        for ms in [30u64, 1, 80] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            let tick = w.tick_of(deadline);
            let waited = tokio::time::timeout(
                Duration::from_secs(5),
                poll_fn(|cx| {
                    if w.reached(tick) {
                        return std::task::Poll::Ready(());
                    }
                    w.register(tick, cx.waker());
                    std::task::Poll::Pending
                }),
            )
            .await;
            assert!(waited.is_ok(), "the deadline {ms} ms away never fired");
            assert!(Instant::now() >= deadline, "fired early");
        }
        assert_eq!(far.0.load(Ordering::SeqCst), 0);
        stop.cancel();
    }
}
