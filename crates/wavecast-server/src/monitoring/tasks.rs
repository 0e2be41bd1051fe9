//! Tasks reported by a back end (`POST /api/ws/tasks`), held for the
//! `tasks` source: `{id, name, status, progress, eta?}`.
//!
//! Invariants: at most `max_tasks` are held — a new id past the bound
//! first evicts the oldest finished task, and is refused when every held
//! task is still pending or running; a completed or failed task is
//! listed for `finished_ttl` after its last report; `progress` is in
//! `[0, 1]`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

impl TaskStatus {
    fn finished(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed)
    }
}

/// One report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskReport {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub progress: f64,
    /// Seconds left, when known.
    #[serde(default)]
    pub eta: Option<f64>,
}

/// Why a report was refused: the field and the reason.
pub type Refusal = (&'static str, String);

impl TaskReport {
    /// Checks the fields.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err(("id", "must be 1-128 bytes".into()));
        }
        if self.name.len() > 256 {
            return Err(("name", "must be at most 256 bytes".into()));
        }
        if !(self.progress.is_finite() && (0.0..=1.0).contains(&self.progress)) {
            return Err(("progress", "must be a number from 0 to 1".into()));
        }
        if self.eta.is_some_and(|e| !(e.is_finite() && e >= 0.0)) {
            return Err(("eta", "must be a number of seconds >= 0".into()));
        }
        Ok(())
    }
}

struct Held {
    report: TaskReport,
    updated: Instant,
}

/// The reported tasks.
pub struct TaskBoard {
    tasks: Mutex<HashMap<String, Held>>,
    max: usize,
    finished_ttl: Duration,
}

/// Queue statistics, as in the FOG document.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub pending: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
}

impl TaskBoard {
    pub fn new(max: usize, finished_ttl: Duration) -> TaskBoard {
        TaskBoard {
            tasks: Mutex::new(HashMap::new()),
            max: max.max(1),
            finished_ttl,
        }
    }

    /// Records a (checked) report.
    pub fn report(&self, r: TaskReport) -> Result<(), Refusal> {
        r.check()?;
        let mut tasks = self.tasks.lock();
        self.expire(&mut tasks);
        if !tasks.contains_key(&r.id) && tasks.len() >= self.max {
            let oldest = tasks
                .iter()
                .filter(|(_, h)| h.report.status.finished())
                .min_by_key(|(_, h)| h.updated)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    tasks.remove(&k);
                }
                None => {
                    return Err((
                        "id",
                        format!(
                            "{} tasks are pending or running (monitoring.max_tasks)",
                            self.max
                        ),
                    ))
                }
            }
        }
        tasks.insert(
            r.id.clone(),
            Held {
                report: r,
                updated: Instant::now(),
            },
        );
        Ok(())
    }

    fn expire(&self, tasks: &mut HashMap<String, Held>) {
        let ttl = self.finished_ttl;
        tasks.retain(|_, h| !(h.report.status.finished() && h.updated.elapsed() > ttl));
    }

    /// The tasks (sorted by id) and their queue statistics.
    pub fn snapshot(&self) -> (Vec<TaskReport>, QueueStats) {
        let mut tasks = self.tasks.lock();
        self.expire(&mut tasks);
        let mut stats = QueueStats::default();
        let mut list: Vec<TaskReport> = tasks
            .values()
            .map(|h| {
                match h.report.status {
                    TaskStatus::Pending => stats.pending += 1,
                    TaskStatus::Running => stats.running += 1,
                    TaskStatus::Completed => stats.completed += 1,
                    TaskStatus::Failed => stats.failed += 1,
                }
                h.report.clone()
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        (list, stats)
    }
}
