//! The `tasks` source: the FOG queue statistics (pending, running,
//! completed, failed) over the tasks a back end reported with
//! `POST /api/ws/tasks` plus the simulations running in this process
//! (client streams and `[[streams.rooms]]`, each a running task).

use serde_json::{json, Value};

use super::ctx::Ctx;

pub fn collect(ctx: &Ctx<'_>) -> Value {
    let (list, mut queue) = ctx.monitoring.tasks.snapshot();
    let streams = ctx.monitoring.streams.running() as u64;
    let rooms = ctx.state.config.streams.rooms.len() as u64;
    queue.running += streams + rooms;
    let total = queue.pending + queue.running + queue.completed + queue.failed;
    json!({
        "queue": {
            "pending": queue.pending,
            "running": queue.running,
            "completed": queue.completed,
            "failed": queue.failed,
            "total": total,
        },
        "simulations": {"streams": streams, "rooms": rooms},
        "tasks": list,
    })
}
