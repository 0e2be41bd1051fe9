//! Authentication and authorization: who a connection is ([`Principal`]),
//! how credentials are checked ([`Authenticator`]: API keys, signed `auth`
//! messages, JWT), what a principal may subscribe to or publish
//! ([`policy`]), origin checks ([`origin`]) and the optional backend
//! connect hook ([`hook`]).

pub mod authenticator;
pub mod ct;
pub mod hook;
pub mod jwt;
pub mod origin;
pub mod pattern;
pub mod policy;
pub mod principal;
pub mod signature;

pub use authenticator::Authenticator;
pub use principal::{AuthError, Claims, Principal};
