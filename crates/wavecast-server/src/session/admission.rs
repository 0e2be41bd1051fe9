//! Admitting a principal and its subscriptions: the checks shared by
//! credentials sent with the upgrade and by `auth` messages (per-user
//! connection rate and limit, the connect hook), the per-user connection
//! registry (replacing the oldest connection over the limit), and the one
//! subscribe check every path uses (client `subscribe`, the server API,
//! the connect hook's channels).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use wavecast_protocol::channel::{namespace_of, validate_channel};
use wavecast_protocol::replies::success_fields;
use wavecast_protocol::{CloseCode, ErrorCode};

use crate::auth::policy::{may_subscribe, personal_owner};
use crate::auth::{hook, AuthError, Principal};
use crate::config::UserLimitPolicy;
use crate::conn::Connection;
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
                if max == 1 {
                    "this user already has a connection".to_string()
                } else {
                    format!("this user already has {max} connections")
                },
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
    match state.hub.registry().add_to_user(
        &user,
        conn,
        cfg.max_connections_per_user,
        cfg.on_user_limit == UserLimitPolicy::ReplaceOldest,
    ) {
        Some(evicted) => {
            for old in evicted {
                state.metrics.limit_rejections("connections_per_user");
                old.close(CloseCode::Replaced, true);
            }
            true
        }
        None => false,
    }
}

/// Who asks for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The client itself: namespace and token rules apply.
    Client,
    /// The server (HTTP API, connect hook): trusted, but never into another
    /// user's personal channel.
    Server,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

/// The one subscribe check: valid names, permissions, and
/// `max_subscriptions` (counting only channels not yet subscribed).
pub fn check_subscribe(
    state: &AppState,
    conn: &Connection,
    channels: &[String],
    by: Requester,
) -> Result<(), Refusal> {
    let principal = conn.principal.read().clone();
    for c in channels {
        if let Err(e) = validate_channel(c) {
            return Err(refuse(ErrorCode::InvalidChannel, format!("{c:?}: {e}")));
        }
        let allowed = match by {
            Requester::Client => {
                may_subscribe(&principal, c, state.config.namespace(namespace_of(c)))
            }
            Requester::Server => match personal_owner(c) {
                Some(owner) if Some(owner) != principal.user_id.as_deref() => {
                    Err(format!("{c:?} is another user's personal channel"))
                }
                _ => Ok(()),
            },
        };
        if let Err(why) = allowed {
            state.metrics.limit_rejections("permission");
            return Err(refuse(ErrorCode::Forbidden, why));
        }
    }
    let current = conn.outbound.subscription_count();
    let new = channels
        .iter()
        .filter(|c| !conn.outbound.is_subscribed(c))
        .count();
    let max = state.config.limits.max_subscriptions;
    if current + new > max {
        state.metrics.limit_rejections("subscriptions");
        return Err(refuse(
            ErrorCode::TooManySubscriptions,
            format!("this connection has {current} subscriptions; {new} more would pass the limit of {max}"),
        ));
    }
    Ok(())
}

fn refuse(code: ErrorCode, message: String) -> Refusal {
    Refusal { code, message }
}

/// Subscribes `conn` to channels the server chose (connect hook), telling
/// the client with a server-side `subscribe_success`. Channels that fail
/// the subscribe check are left out and logged.
pub async fn join_server_channels(state: &AppState, conn: &Arc<Connection>, channels: &[String]) {
    let mut ok: Vec<String> = Vec::new();
    for c in channels {
        let mut with = ok.clone();
        with.push(c.clone());
        if check_subscribe(state, conn, &with, Requester::Server).is_ok() {
            ok = with;
        }
    }
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
        .subscribe(conn, &ok, &Default::default(), |results| {
            conn.control_frame(
                "subscribe_success",
                success_fields(&ok, results, true),
                None,
            )
        })
        .await;
    if let Err(e) = joined {
        tracing::error!(error = %e, "server-side subscribe failed");
    }
}
