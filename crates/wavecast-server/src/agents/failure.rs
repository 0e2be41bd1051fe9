//! Why a conversation failed, as its client sees it: one `error` frame
//! with the request's `correlation_id`, a stable code and a message, and
//! the `outcome` label of `agent_requests_total`.
//!
//! Invariant: a message never carries the conversation's content, only
//! what went wrong (and, for a refusal, the upstream's own words).

use wavecast_protocol::ErrorCode;

/// A failed conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The upstream refused the connection or answered 502/503 after the
    /// retries, or broke off.
    Unavailable(String),
    /// The upstream refused the request (HTTP 4xx, or an `error` event).
    Rejected(String),
    /// The upstream broke the contract: a malformed event, a stream that
    /// ended without `agent_completed`.
    Protocol(String),
    /// `agents.timeout` or `agents.idle_timeout` passed.
    Timeout(String),
    /// A concurrency limit: ours, or the upstream's HTTP 429.
    TooMany(String),
}

impl Failure {
    /// The code of the error frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            Failure::Unavailable(_) => ErrorCode::AgentUnavailable,
            Failure::Rejected(_) => ErrorCode::AgentRejected,
            Failure::Protocol(_) => ErrorCode::AgentProtocolError,
            Failure::Timeout(_) => ErrorCode::AgentTimeout,
            Failure::TooMany(_) => ErrorCode::TooManyRequests,
        }
    }

    /// The human-readable message of the error frame.
    pub fn message(&self) -> &str {
        match self {
            Failure::Unavailable(m)
            | Failure::Rejected(m)
            | Failure::Protocol(m)
            | Failure::Timeout(m)
            | Failure::TooMany(m) => m,
        }
    }

    /// The `outcome` label: the error code.
    pub fn outcome(&self) -> &'static str {
        self.code().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_recoverability() {
        let cases = [
            (Failure::Unavailable("x".into()), "agent_unavailable", true),
            (Failure::Rejected("x".into()), "agent_rejected", false),
            (Failure::Protocol("x".into()), "agent_protocol_error", false),
            (Failure::Timeout("x".into()), "agent_timeout", true),
            (Failure::TooMany("x".into()), "too_many_requests", true),
        ];
        for (f, code, recoverable) in cases {
            assert_eq!(f.outcome(), code);
            assert_eq!(f.code().recoverable(), recoverable, "{code}");
            assert_eq!(f.message(), "x");
        }
    }
}
