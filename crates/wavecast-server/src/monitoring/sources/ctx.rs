//! [`Ctx`]: what a source reads from — the server's core state and the
//! monitoring subsystem.

use std::sync::Arc;

use crate::monitoring::service::Monitoring;
use crate::state::AppState;

/// What a source reads from.
pub struct Ctx<'a> {
    pub state: &'a Arc<AppState>,
    pub monitoring: &'a Monitoring,
}
