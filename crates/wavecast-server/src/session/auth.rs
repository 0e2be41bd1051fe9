//! The `auth` and `refresh` exchanges, and the session's deadlines: the
//! auth timeout of an unauthenticated connection, and the refresh reminder
//! and expiry of its token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wavecast_protocol::time::{format_millis, now_millis};
use wavecast_protocol::to_client::{error_fields, fields};
use wavecast_protocol::to_server::{AuthRequest, RequestId};
use wavecast_protocol::{CloseCode, ErrorCode};

use super::admission::{admit_checks, join_server_channels, register_user};
use crate::audit::{self, AuthVia};
use crate::auth::policy::may_subscribe;
use crate::auth::AuthError;
use crate::conn::Connection;
use crate::moment::Moment;
use crate::state::AppState;

/// Per-session authentication state, owned by the driver.
#[derive(Debug)]
pub struct SessionAuth {
    pub admitted: bool,
    pub failures: u32,
    /// Close with 4001 at this instant unless admitted (auth_timeout).
    pub auth_deadline: Option<Moment>,
    /// Send `refresh_required` at this instant.
    pub refresh_at: Option<Moment>,
    /// Close with 4001 "token expired" at this instant.
    pub expires_at: Option<Moment>,
}

impl SessionAuth {
    pub fn new(admitted: bool, auth_timeout: Duration) -> SessionAuth {
        SessionAuth {
            admitted,
            failures: 0,
            auth_deadline: (!admitted).then(|| Moment::now() + auth_timeout),
            refresh_at: None,
            expires_at: None,
        }
    }

    /// Schedules refresh and expiry for a token expiring at `exp` (s).
    pub fn schedule_token(&mut self, exp: Option<u64>, refresh_before: Duration) {
        let Some(exp) = exp else {
            self.refresh_at = None;
            self.expires_at = None;
            return;
        };
        let now_ms = now_millis();
        let left = Duration::from_millis((exp.saturating_mul(1000)).saturating_sub(now_ms));
        let now = Moment::now();
        self.expires_at = Some(now + left);
        self.refresh_at = Some(now + left.saturating_sub(refresh_before));
    }

    /// The next instant the driver must wake for.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.auth_deadline, self.refresh_at, self.expires_at]
            .into_iter()
            .flatten()
            .min()
            .map(Moment::instant)
    }

    /// Acts on the deadlines that passed by `now`.
    pub fn on_deadline(&mut self, state: &AppState, conn: &Connection, now: Instant) {
        let now = Moment::from(now);
        if self.auth_deadline.is_some_and(|d| d <= now) {
            state.metrics.auth_result("timeout");
            conn.close(CloseCode::AuthTimeout, true);
            self.auth_deadline = None;
        } else if self.expires_at.is_some_and(|d| d <= now) {
            conn.close(CloseCode::TokenExpired, true);
            self.expires_at = None;
            self.refresh_at = None;
        } else if self.refresh_at.is_some_and(|d| d <= now) {
            refresh_required(conn);
            self.refresh_at = None;
        }
    }
}

fn expires_value(exp: Option<u64>) -> Value {
    exp.map(|s| Value::from(format_millis(s.saturating_mul(1000))))
        .unwrap_or(Value::Null)
}

fn auth_failed(
    state: &AppState,
    conn: &Connection,
    sess: &mut SessionAuth,
    e: &AuthError,
    id: Option<&RequestId>,
) {
    state.metrics.auth_result(e.code.as_str());
    audit::auth_failed(
        Some(&conn.id),
        conn.remote,
        e.code.as_str(),
        &e.message,
        AuthVia::Message,
    );
    conn.send("auth_failed", error_fields(e.code, &e.message), id);
    sess.failures += 1;
    if sess.failures >= state.config.auth.max_auth_failures.max(1) {
        conn.close(CloseCode::AuthFailed, true);
    }
}

/// Handles an `auth` message.
pub async fn authenticate(
    state: &AppState,
    conn: &Arc<Connection>,
    sess: &mut SessionAuth,
    req: AuthRequest,
    id: Option<&RequestId>,
) {
    let principal = match state.auth.verify_message(&req, now_millis()) {
        Ok(p) => p,
        Err(e) => return auth_failed(state, conn, sess, &e, id),
    };
    let current = conn.principal.read().clone();
    if current.authenticated && current.user_id != principal.user_id {
        let e = AuthError::new(
            ErrorCode::Forbidden,
            "already authenticated as another user",
        );
        return auth_failed(state, conn, sess, &e, id);
    }
    let extra = match admit_checks(state, &principal, conn.remote).await {
        Ok(extra) => extra,
        Err(e) => return auth_failed(state, conn, sess, &e, id),
    };
    let exp = principal.expires_at;
    let user = principal.user_id.clone();
    *conn.principal.write() = principal.admitted(&state.config.agents.forward_claims);
    if !register_user(state, conn) {
        let e = AuthError::new(
            ErrorCode::TooManyConnections,
            "this user has too many connections",
        );
        *conn.principal.write() = current;
        return auth_failed(state, conn, sess, &e, id);
    }
    sess.admitted = true;
    sess.auth_deadline = None;
    sess.schedule_token(exp, state.config.auth.refresh_before);
    state.metrics.auth_result("success");
    audit::auth_success(
        Some(&conn.id),
        conn.remote,
        user.as_deref(),
        AuthVia::Message,
    );
    conn.send(
        "auth_success",
        fields([
            ("connection_id", Value::from(&*conn.id)),
            ("user_id", user.map(Value::from).unwrap_or(Value::Null)),
            ("expires_at", expires_value(exp)),
        ]),
        id,
    );
    join_server_channels(state, conn, &extra).await;
}

/// Handles a `refresh` message: a new token for the same user.
pub fn refresh(
    state: &AppState,
    conn: &Arc<Connection>,
    sess: &mut SessionAuth,
    token: &str,
    id: Option<&RequestId>,
) {
    if !conn.principal.read().authenticated {
        let e = AuthError::new(
            ErrorCode::AuthRequired,
            "refresh renews a token; authenticate with auth first",
        );
        return auth_failed(state, conn, sess, &e, id);
    }
    let principal = match state.auth.verify_token(token) {
        Ok(p) => p,
        Err(e) => return auth_failed(state, conn, sess, &e, id),
    };
    if conn.principal.read().user_id != principal.user_id {
        let e = AuthError::new(ErrorCode::Forbidden, "the new token is for another user");
        return auth_failed(state, conn, sess, &e, id);
    }
    let exp = principal.expires_at;
    *conn.principal.write() = principal
        .clone()
        .admitted(&state.config.agents.forward_claims);
    sess.schedule_token(exp, state.config.auth.refresh_before);
    revoke_ungranted(state, conn, &principal);
    state.metrics.auth_result("refresh");
    conn.send(
        "refresh_success",
        fields([("expires_at", expires_value(exp))]),
        id,
    );
}

/// A narrower token ends the subscriptions it no longer grants.
fn revoke_ungranted(state: &AppState, conn: &Connection, principal: &crate::auth::Principal) {
    let ns = |c: &str| {
        state
            .config
            .namespace(wavecast_protocol::channel::namespace_of(c))
    };
    let revoked: Vec<String> = conn
        .outbound
        .channels()
        .into_iter()
        .filter(|c| may_subscribe(principal, c, ns(c)).is_err())
        .map(|c| c.to_string())
        .collect();
    for c in &revoked {
        if let Some(stats) = state.hub.unsubscribe(conn, c) {
            crate::hub::subscription_ended(conn, c, &stats, "refresh_revoked");
        }
    }
    if !revoked.is_empty() {
        conn.send(
            "unsubscribe_success",
            fields([
                ("channels", Value::from(revoked)),
                ("server_side", Value::from(true)),
            ]),
            None,
        );
    }
}

/// Sends `refresh_required` for the current token.
pub fn refresh_required(conn: &Connection) {
    let exp = conn.principal.read().expires_at;
    conn.send(
        "refresh_required",
        fields([("expires_at", expires_value(exp))]),
        None,
    );
}
