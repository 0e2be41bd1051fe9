//! What loading a configuration can report: an error that stops the
//! server, or a warning that does not.
//!
//! Invariants: texts are for people: they name keys as written in TOML
//! (`limits.max_message_size`, never a figment profile), variables by
//! their name, and never a secret, a source path or a Rust type.

use std::fmt;

/// A configuration that could not be loaded or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Something ignored or surprising that does not stop the server, e.g.
/// an unknown `WAVECAST_*` variable. The caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
