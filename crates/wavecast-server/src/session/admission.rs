//! Admitting a principal: the checks shared by credentials sent with the
//! upgrade and `auth` messages (per-user connection rate and limit, the
//! connect hook), the `auth` and `refresh` exchanges, and the per-user
//! connection registry (replacing the oldest connection over the limit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wavecast_protocol::client::{AuthRequest, RequestId};
use wavecast_protocol::server::{encode_control, error_fields, fields};
use wavecast_protocol::time::{format_millis, now_millis};
use wavecast_protocol::{CloseCode, ErrorCode};

use super::Connection;
use crate::auth::policy::may_subscribe;
use crate::auth::{hook, AuthError, Principal};
use crate::config::UserLimitPolicy;
use crate::limits::ConnectionSlot;
use crate::state::AppState;

/// What the upgrade handler hands to the session.
pub struct Admission {
    /// The connection's slot under `max_connections`.
    pub slot: ConnectionSlot,
    /// The connection may use the whole protocol now (credentials were
    /// valid, or none are required). Otherwise it must send `auth` first.
    pub admitted: bool,
    /// Channels the connect hook asked to join.
    pub extra_channels: Vec<String>,
}

/// Checks run once a principal is known: per-user connection rate, the
/// `refuse` per-user limit, and the connect hook. Returns extra channels.
pub async fn admit_checks(
    state: &AppState,
    principal: &Principal,
    remote: SocketAddr,
) -> Result<Vec<String>, AuthError> {
    let limits = &state.limits;
    if let Some(user) = principal
        .user_id
        .as_ref()
        .filter(|_| !principal.via_api_key)
    {
        if !limits.per_user.allow(user, Instant::now()) {
            state.metrics.limit_rejections("connection_rate_user");
            return Err(AuthError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} new connections per minute for this user",
                    limits.cfg.connection_rate_per_user
                ),
            ));
        }
        let max = limits.cfg.max_connections_per_user;
        if max > 0
            && limits.cfg.on_user_limit == UserLimitPolicy::Refuse
            && state.hub.user_connections(user).len() >= max
        {
            state.metrics.limit_rejections("connections_per_user");
            return Err(AuthError::new(
                ErrorCode::TooManyConnections,
                format!("this user already has {max} connections"),
            ));
        }
    }
    if state.config.auth.connect_url.is_empty() {
        return Ok(Vec::new());
    }
    hook::check(&state.config.auth, &state.hook_client, principal, remote).await
}

/// Registers `conn` under its user, replacing the oldest connections over
/// the limit. False if the `refuse` policy refused it after all (a race
/// with another connection of the same user).
pub fn register_user(state: &AppState, conn: &Arc<Connection>) -> bool {
    let (user, via_key) = {
        let p = conn.principal.read();
        (p.user_id.clone(), p.via_api_key)
    };
    let Some(user) = user.filter(|_| !via_key) else {
        return true;
    };
    let cfg = &state.limits.cfg;
    match state.hub.add_user_connection(
        &user,
        conn,
        cfg.max_connections_per_user,
        cfg.on_user_limit == UserLimitPolicy::ReplaceOldest,
    ) {
        Some(evicted) => {
            for old in evicted {
                state.metrics.limit_rejections("connections_per_user");
                old.outbound.request_close(CloseCode::Replaced, true);
            }
            true
        }
        None => false,
    }
}

/// Subscribes `conn` to channels the server chose (connect hook), telling
/// the client with a server-side `subscribe_success`.
pub async fn join_server_channels(state: &AppState, conn: &Arc<Connection>, channels: &[String]) {
    let principal = conn.principal.read().clone();
    let ns = |c: &str| {
        state
            .config
            .namespace(wavecast_protocol::channel::namespace_of(c))
    };
    let room = state
        .config
        .limits
        .max_subscriptions
        .saturating_sub(conn.outbound.subscription_count());
    let ok: Vec<String> = channels
        .iter()
        .filter(|c| wavecast_protocol::channel::validate_channel(c).is_ok())
        .filter(|c| may_subscribe(&principal, c, ns(c)).is_ok())
        .take(room)
        .cloned()
        .collect();
    if ok.len() < channels.len() {
        tracing::warn!(
            connection_id = %conn.id,
            asked = channels.len(),
            joined = ok.len(),
            "connect hook channels refused (invalid, forbidden or over max_subscriptions)"
        );
    }
    if ok.is_empty() {
        return;
    }
    let joined = state
        .hub
        .subscribe_many_async(conn, &ok, &Default::default(), |results| {
            encode_control(
                "subscribe_success",
                super::handler::success_fields(&ok, results, true),
                None,
            )
        })
        .await;
    if let Err(e) = joined {
        tracing::error!(error = %e, "server-side subscribe failed");
    }
}

/// Per-session authentication state, owned by the driver.
#[derive(Debug)]
pub struct SessionAuth {
    pub admitted: bool,
    pub failures: u32,
    /// Close with 4001 at this instant unless admitted (auth_timeout).
    pub auth_deadline: Option<Instant>,
    /// Send `refresh_required` at this instant.
    pub refresh_at: Option<Instant>,
    /// Close with 4001 "token expired" at this instant.
    pub expires_at: Option<Instant>,
}

impl SessionAuth {
    pub fn new(admitted: bool, auth_timeout: Duration) -> SessionAuth {
        SessionAuth {
            admitted,
            failures: 0,
            auth_deadline: (!admitted).then(|| Instant::now() + auth_timeout),
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
        let left = Duration::from_millis((exp * 1000).saturating_sub(now_ms));
        let now = Instant::now();
        self.expires_at = Some(now + left);
        self.refresh_at = Some(now + left.saturating_sub(refresh_before));
    }

    /// The next instant the driver must wake for.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.auth_deadline, self.refresh_at, self.expires_at]
            .into_iter()
            .flatten()
            .min()
    }
}

fn expires_value(exp: Option<u64>) -> Value {
    exp.map(|s| Value::from(format_millis(s * 1000)))
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
    tracing::info!(
        target: "wavecast::audit",
        event = "auth_failed",
        connection_id = %conn.id,
        remote_addr = %conn.remote,
        code = e.code.as_str(),
        error = %e.message,
    );
    conn.outbound.push_control(encode_control(
        "auth_failed",
        error_fields(e.code, &e.message),
        id,
    ));
    sess.failures += 1;
    if sess.failures >= state.config.auth.max_auth_failures.max(1) {
        conn.outbound.request_close(CloseCode::AuthFailed, true);
    }
}

/// Handles an `auth` message.
pub async fn authenticate(
    state: &AppState,
    conn: &Arc<Connection>,
    sess: &mut SessionAuth,
    req: AuthRequest,
    id: Option<RequestId>,
) {
    let id = id.as_ref();
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
    *conn.principal.write() = principal;
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
    tracing::info!(
        target: "wavecast::audit",
        event = "auth_success",
        connection_id = %conn.id,
        remote_addr = %conn.remote,
        user = user.as_deref().unwrap_or(""),
        via = "message",
    );
    conn.outbound.push_control(encode_control(
        "auth_success",
        fields([
            ("connection_id", Value::from(&*conn.id)),
            ("user_id", user.map(Value::from).unwrap_or(Value::Null)),
            ("expires_at", expires_value(exp)),
        ]),
        id,
    ));
    join_server_channels(state, conn, &extra).await;
}

/// Handles a `refresh` message: a new token for the same user.
pub fn refresh(
    state: &AppState,
    conn: &Arc<Connection>,
    sess: &mut SessionAuth,
    token: &str,
    id: Option<RequestId>,
) {
    let id = id.as_ref();
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
    *conn.principal.write() = principal.clone();
    sess.schedule_token(exp, state.config.auth.refresh_before);
    // A narrower token ends the subscriptions it no longer grants.
    let ns = |c: &str| {
        state
            .config
            .namespace(wavecast_protocol::channel::namespace_of(c))
    };
    let revoked: Vec<String> = conn
        .outbound
        .channels()
        .into_iter()
        .filter(|c| may_subscribe(&principal, c, ns(c)).is_err())
        .map(|c| c.to_string())
        .collect();
    for c in &revoked {
        if let Some(stats) = state.hub.unsubscribe(conn, c) {
            crate::audit::subscription_ended(conn, c, &stats, "refresh_revoked");
        }
    }
    if !revoked.is_empty() {
        conn.outbound.push_control(encode_control(
            "unsubscribe_success",
            fields([
                ("channels", Value::from(revoked)),
                ("server_side", Value::from(true)),
            ]),
            None,
        ));
    }
    state.metrics.auth_result("refresh");
    conn.outbound.push_control(encode_control(
        "refresh_success",
        fields([("expires_at", expires_value(exp))]),
        id,
    ));
}

/// Sends `refresh_required` for the current token.
pub fn refresh_required(conn: &Connection) {
    let exp = conn.principal.read().expires_at;
    conn.outbound.push_control(encode_control(
        "refresh_required",
        fields([("expires_at", expires_value(exp))]),
        None,
    ));
}
