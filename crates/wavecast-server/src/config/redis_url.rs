//! `redis_url`, parsed: `redis://[user:password@]host:port[/db]`, or
//! `rediss://…` for TLS.
//!
//! Invariants: the port is required; a parsed URL names a host, a port
//! from 1 to 65535 and a database number; the password never appears in
//! `Display`, `Debug` or an error text (see [`redact_url`]).

use std::fmt;
use std::str::FromStr;

/// The accepted forms, for error texts.
const FORMS: &str = "write redis://[user:password@]host:port[/db], or rediss://… for TLS";

/// Where Redis is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// `rediss://`: connect with TLS.
    pub tls: bool,
    /// A host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// For `AUTH username password` (Redis 6 ACLs).
    pub username: Option<String>,
    /// For `AUTH [username] password`. Never shown.
    pub password: Option<String>,
    /// The database to `SELECT` (0: the default one).
    pub db: u32,
    /// For `rediss://`: the PEM file of the CA certificates to trust (the
    /// `redis_ca_file` setting; empty: the public web roots). Not part of
    /// the URL.
    pub ca_file: String,
}

impl RedisUrl {
    /// `host:port`, with an IPv6 host in brackets: what to connect to.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    /// Parses a URL; the error does not repeat it (it may hold a password).
    fn from_str(s: &str) -> Result<RedisUrl, String> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("not a URL; {FORMS}"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "redis" => false,
            "rediss" => true,
            "unix" | "redis+unix" => {
                return Err(format!("Unix sockets are not supported; {FORMS}"))
            }
            other => {
                return Err(format!(
                    "the scheme {other:?} is not redis or rediss; {FORMS}"
                ))
            }
        };
        if rest.contains(['?', '#']) {
            return Err(format!("query parameters are not supported; {FORMS}"));
        }
        let (userinfo, after) = match rest.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, rest),
        };
        let (hostport, path) = match after.split_once('/') {
            Some((h, p)) => (h, p),
            None => (after, ""),
        };
        let (host, port) = host_port(hostport)?;
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => credentials(u)?,
        };
        let db = match path {
            "" => 0,
            p => p.parse::<u32>().map_err(|_| {
                format!("the database after the port must be a number like /0; {FORMS}")
            })?,
        };
        Ok(RedisUrl {
            tls,
            host,
            port,
            username,
            password,
            db,
            ca_file: String::new(),
        })
    }
}

/// Splits `host:port` (or `[v6]:port`) and checks both.
fn host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("an IPv6 host needs its closing ]; {FORMS}"))?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host; {FORMS}"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
    if !host.chars().all(ok) {
        return Err(format!(
            "the host {host:?} is not a host name or IP address; {FORMS}"
        ));
    }
    let port = port.ok_or_else(|| format!("no port (Redis usually listens on 6379); {FORMS}"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host.to_string(), p)),
        _ => Err(format!(
            "the port must be a number from 1 to 65535; {FORMS}"
        )),
    }
}

/// `user:password`, `:password` or `user`, %-decoded.
fn credentials(userinfo: &str) -> Result<(Option<String>, Option<String>), String> {
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| format!("the user name or password has a bad %-escape; {FORMS}"))
    };
    let user = Some(decode(user)?).filter(|u| !u.is_empty());
    let pass = match pass {
        Some(p) => Some(decode(p)?).filter(|p| !p.is_empty()),
        None => None,
    };
    Ok((user, pass))
}

/// Decodes `%XX` escapes; `None` for a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Display for RedisUrl {
    /// The URL with the password shown as `[redacted]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.tls { "rediss://" } else { "redis://" })?;
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:[redacted]@")?,
            (None, Some(_)) => f.write_str(":[redacted]@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.address(), self.db)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("db", &self.db)
            .finish()
    }
}

/// `url` with any credentials hidden, whether or not it parses: the user
/// name is kept only when a `:` separates it from a password.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, after)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[redacted]@{after}"),
        None => format!("{scheme}://[redacted]@{after}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RedisUrl, String> {
        s.parse()
    }

    #[test]
    fn accepted_forms() {
        let u = parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.db),
            (false, "127.0.0.1", 6379, 0)
        );
        assert_eq!((u.username, u.password), (None, None));

        let u = parse("rediss://app:p%40ss:w0rd@cache.internal:6380/3").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "cache.internal");
        assert_eq!(u.port, 6380);
        assert_eq!(u.username.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(u.db, 3);

        let u = parse("redis://:secret@10.0.0.5:6379/0").unwrap();
        assert_eq!((u.username, u.password.as_deref()), (None, Some("secret")));

        let u = parse("redis://[::1]:6379/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.address()),
            ("::1", "[::1]:6379".to_string())
        );
    }

    #[test]
    fn refused_forms_say_why() {
        let forms = "write redis://[user:password@]host:port[/db], or rediss://… for TLS";
        for (url, why) in [
            (
                "redis://127.0.0.1",
                "no port (Redis usually listens on 6379)".to_string(),
            ),
            (
                "redis://127.0.0.1:0",
                "the port must be a number from 1 to 65535".into(),
            ),
            (
                "redis://127.0.0.1:99999",
                "the port must be a number from 1 to 65535".into(),
            ),
            ("127.0.0.1:6379", "not a URL".into()),
            ("garbage", "not a URL".into()),
            (
                "http://h:1",
                "the scheme \"http\" is not redis or rediss".into(),
            ),
            (
                "redis://h:1/zero",
                "the database after the port must be a number like /0".into(),
            ),
            (
                "redis://h:1?db=2",
                "query parameters are not supported".into(),
            ),
            ("redis://:6379", "no host".into()),
            (
                "redis://a b:6379",
                "the host \"a b\" is not a host name or IP address".into(),
            ),
            (
                "redis://u:%zz@h:1",
                "the user name or password has a bad %-escape".into(),
            ),
        ] {
            assert_eq!(parse(url).unwrap_err(), format!("{why}; {forms}"), "{url}");
        }
    }

    #[test]
    fn the_password_is_never_shown() {
        let u = parse("rediss://app:hunter2@cache:6380/1").unwrap();
        assert_eq!(u.to_string(), "rediss://app:[redacted]@cache:6380/1");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(
            parse("redis://:hunter2@cache:6380").unwrap().to_string(),
            "redis://:[redacted]@cache:6380/0"
        );
        assert_eq!(
            redact_url("redis://app:hunter2@cache"),
            "redis://app:[redacted]@cache"
        );
        assert_eq!(
            redact_url("redis://hunter2@cache"),
            "redis://[redacted]@cache"
        );
        assert_eq!(redact_url("redis://cache:1"), "redis://cache:1");
        let e = parse("redis://app:hunter2@cache").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
