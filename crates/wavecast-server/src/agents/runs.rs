//! The bookkeeping of running conversations: how many run per user and
//! in the process ([`Runs`], for `agents.max_per_user` and
//! `agents.max_running`), and each connection's, by correlation id, with
//! their cancel tokens ([`ConnRuns`], for `agent_cancel`).
//!
//! Invariants: a [`RunSlot`] is taken before a conversation starts and
//! its drop gives it back, so the counts never leak whatever way the
//! conversation ends; a user whose count drops to zero is forgotten; a
//! correlation id names at most one running conversation of a connection.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// One connection's running conversations: correlation key → the token
/// that cancels it. Shared by the connection's extension and its tasks.
#[derive(Default, Clone)]
pub struct ConnRuns(Arc<Mutex<HashMap<String, CancellationToken>>>);

impl ConnRuns {
    pub fn contains(&self, key: &str) -> bool {
        self.0.lock().contains_key(key)
    }

    pub fn insert(&self, key: String, cancel: CancellationToken) {
        self.0.lock().insert(key, cancel);
    }

    /// Cancels the conversation `key`; false if none runs.
    pub fn cancel(&self, key: &str) -> bool {
        match self.0.lock().get(key) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    pub fn remove(&self, key: &str) {
        self.0.lock().remove(key);
    }

    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The running conversations.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    running: usize,
    per_user: HashMap<String, usize>,
}

/// Which limit refused a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user runs this many (`agents.max_per_user`).
    User(usize),
    /// The process runs this many (`agents.max_running`).
    Server(usize),
}

impl Refusal {
    /// The `limit` label of `limit_rejections_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::User(_) => "agents_per_user",
            Refusal::Server(_) => "agents_running",
        }
    }

    /// The message of the `too_many_requests` error.
    pub fn message(self) -> String {
        match self {
            Refusal::User(n) => format!(
                "you already run {n} agent conversations (agents.max_per_user); wait for one to end"
            ),
            Refusal::Server(n) => {
                format!("the server runs {n} agent conversations (agents.max_running); retry later")
            }
        }
    }
}

/// One running conversation's place in the counts.
pub struct RunSlot {
    runs: Arc<Runs>,
    user: String,
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        let mut c = self.runs.inner.lock();
        c.running = c.running.saturating_sub(1);
        if let Some(n) = c.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(&self.user);
            }
        }
    }
}

impl Runs {
    /// Counts a new conversation of `user`, unless a limit is reached
    /// (`max_per_user` 0: no per-user limit).
    pub fn try_start(
        self: &Arc<Self>,
        user: &str,
        max_per_user: usize,
        max_running: usize,
    ) -> Result<RunSlot, Refusal> {
        let mut c = self.inner.lock();
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if max_per_user > 0 && mine >= max_per_user {
            return Err(Refusal::User(mine));
        }
        if c.running >= max_running {
            return Err(Refusal::Server(c.running));
        }
        c.running += 1;
        *c.per_user.entry(user.to_string()).or_insert(0) += 1;
        Ok(RunSlot {
            runs: self.clone(),
            user: user.to_string(),
        })
    }

    /// Conversations running now.
    pub fn running(&self) -> usize {
        self.inner.lock().running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_per_server() {
        let runs = Arc::new(Runs::default());
        let a1 = runs.try_start("a", 2, 3).unwrap();
        let _a2 = runs.try_start("a", 2, 3).unwrap();
        assert_eq!(runs.try_start("a", 2, 3).err(), Some(Refusal::User(2)));
        let _b1 = runs.try_start("b", 2, 3).unwrap();
        assert_eq!(runs.try_start("c", 2, 3).err(), Some(Refusal::Server(3)));
        drop(a1);
        assert_eq!(runs.running(), 2);
        let _a3 = runs.try_start("a", 2, 3).unwrap();
        assert_eq!(runs.try_start("c", 0, 3).err(), Some(Refusal::Server(3)));
    }

    #[test]
    fn users_are_forgotten_at_zero() {
        let runs = Arc::new(Runs::default());
        drop(runs.try_start("a", 1, 10).unwrap());
        assert!(runs.inner.lock().per_user.is_empty());
        assert_eq!(runs.running(), 0);
    }
}
