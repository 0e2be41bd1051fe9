//! Origin checks for WebSocket upgrades and CORS. Patterns are full
//! origins (`https://app.example.com`, `http://localhost:3000`) or a
//! wildcard host label (`https://*.example.com`). Matching compares the
//! parsed scheme, host and port, so `https://evil-example.com` and
//! `https://example.com.evil.net` never match `https://*.example.com`.
//!
//! Environment profiles (as Netra describes them): `dev` allows the
//! listed origins plus any localhost origin (`localhost`, `127.0.0.1`,
//! `[::1]`, any port); `staging` allows its list plus the same development
//! origins; `production` allows only its list. `"*"` allows every origin.

use crate::config::{Environment, OriginConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Parses `scheme://host[:port]` (no path, no userinfo).
fn parse(s: &str) -> Option<Origin> {
    let (scheme, rest) = s.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || !p.is_empty() => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) if h.starts_with('[') => (rest, default_port(&scheme)?),
            Err(_) => return None,
        },
        _ => (rest, default_port(&scheme)?),
    };
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some(Origin { scheme, host, port })
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(Origin),
    /// `scheme://*.suffix[:port]`: any host that ends with `.suffix`.
    Subdomains {
        scheme: String,
        suffix: String,
        port: u16,
    },
    /// Any port of this scheme and host (for `dev`'s localhost rule).
    AnyPort {
        scheme: String,
        host: String,
    },
}

/// The compiled origin policy.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    patterns: Vec<Pattern>,
    allow_all: bool,
    allow_missing: bool,
}

impl OriginPolicy {
    pub fn new(cfg: &OriginConfig, env: Environment) -> Result<OriginPolicy, String> {
        let mut patterns = Vec::new();
        for p in &cfg.allowed {
            if p.trim() == "*" {
                return Ok(OriginPolicy {
                    patterns: Vec::new(),
                    allow_all: true,
                    allow_missing: cfg.allow_missing,
                });
            }
            let wild = p.contains("://*.");
            let parsed = parse(&p.replacen("://*.", "://", 1)).ok_or_else(|| {
                format!("origins.allowed: {p:?} is not an origin like https://app.example.com")
            })?;
            patterns.push(if wild {
                Pattern::Subdomains {
                    scheme: parsed.scheme,
                    suffix: format!(".{}", parsed.host),
                    port: parsed.port,
                }
            } else {
                Pattern::Exact(parsed)
            });
        }
        if matches!(env, Environment::Dev | Environment::Staging) {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                for scheme in ["http", "https"] {
                    patterns.push(Pattern::AnyPort {
                        scheme: scheme.into(),
                        host: host.into(),
                    });
                }
            }
        }
        Ok(OriginPolicy {
            allow_all: false,
            patterns,
            allow_missing: cfg.allow_missing,
        })
    }

    /// Whether an upgrade with this `Origin` header (or none) is allowed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return self.allow_missing;
        };
        if self.allow_all {
            return true;
        }
        let Some(o) = parse(origin) else {
            return false;
        };
        self.patterns.iter().any(|p| match p {
            Pattern::Exact(e) => *e == o,
            Pattern::Subdomains {
                scheme,
                suffix,
                port,
            } => {
                *scheme == o.scheme
                    && *port == o.port
                    && o.host.len() > suffix.len()
                    && o.host.ends_with(suffix.as_str())
            }
            Pattern::AnyPort { scheme, host } => *scheme == o.scheme && *host == o.host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], env: Environment) -> OriginPolicy {
        OriginPolicy::new(
            &OriginConfig {
                allowed: allowed.iter().map(|s| s.to_string()).collect(),
                allow_missing: false,
            },
            env,
        )
        .unwrap()
    }

    #[test]
    fn wildcard_matches_safely() {
        let p = policy(&["https://*.example.com"], Environment::Production);
        assert!(p.allows(Some("https://app.example.com")));
        assert!(p.allows(Some("https://a.b.example.com:443")));
        assert!(!p.allows(Some("https://example.com")));
        assert!(!p.allows(Some("https://evil-example.com")));
        assert!(!p.allows(Some("https://example.com.evil.net")));
        assert!(!p.allows(Some("https://app.example.com.evil.net")));
        assert!(!p.allows(Some("http://app.example.com")));
        assert!(!p.allows(Some("https://app.example.com:8443")));
        assert!(!p.allows(Some("null")));
        assert!(!p.allows(None));
    }

    #[test]
    fn exact_and_dev_localhost() {
        let p = policy(&["https://app.example.com"], Environment::Dev);
        assert!(p.allows(Some("https://APP.example.com")));
        assert!(p.allows(Some("http://localhost:5173")));
        assert!(!p.allows(Some("https://other.example.com")));
        let prod = policy(&["https://app.example.com"], Environment::Production);
        assert!(!prod.allows(Some("http://localhost:5173")));
        // Development means localhost origins, not every origin.
        let dev = policy(&[], Environment::Dev);
        assert!(!dev.allows(Some("https://anything.net")));
        assert!(dev.allows(Some("http://127.0.0.1:8080")));
        assert!(dev.allows(Some("http://[::1]:3000")));
        // Staging: its list plus the development origins.
        let staging = policy(&["https://staging.example.com"], Environment::Staging);
        assert!(staging.allows(Some("https://staging.example.com")));
        assert!(staging.allows(Some("http://localhost:3000")));
        assert!(!staging.allows(Some("https://app.example.com")));
        let closed_prod = policy(&[], Environment::Production);
        assert!(!closed_prod.allows(Some("https://anything.net")));
        assert!(policy(&["*"], Environment::Production).allows(Some("https://anything.net")));
    }

    #[test]
    fn refuses_bad_patterns() {
        let cfg = OriginConfig {
            allowed: vec!["example.com".into()],
            allow_missing: true,
        };
        assert!(OriginPolicy::new(&cfg, Environment::Dev).is_err());
    }
}
