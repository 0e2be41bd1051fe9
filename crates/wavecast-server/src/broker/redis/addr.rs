//! Where Redis is: `redis://[[user]:password@]host:port[/db]`, parsed once
//! at start. The password never appears in logs or errors: [`RedisAddr`]'s
//! `Display` shows the URL with it redacted.

/// A parsed Redis URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddr {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

impl std::fmt::Debug for RedisAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:[redacted]@"),
            (None, Some(_)) => "[redacted]@".to_string(),
            _ => String::new(),
        };
        write!(f, "redis://{auth}{}:{}/{}", self.host, self.port, self.db)
    }
}

impl RedisAddr {
    /// Parses a `redis://` URL; the error never contains the password.
    pub fn parse(url: &str) -> Result<RedisAddr, String> {
        let rest = match url.split_once("://") {
            Some(("redis", rest)) => rest,
            Some(("rediss", _)) => {
                return Err("redis_url: rediss:// (TLS) is not supported by this build".into())
            }
            _ => return Err("redis_url must look like redis://host:port[/db]".into()),
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (hostport, db) = match hostpart.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse::<u32>()
                    .map_err(|_| format!("redis_url: the database {d:?} is not a number"))?,
            ),
            None => (hostpart, 0),
        };
        let (host, port) = hostport
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| format!("redis_url: {hostport:?} needs host:port"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("redis_url: the port {port:?} is not a number"))?;
        let (username, password) = match auth.map(|a| a.split_once(':')) {
            None => (None, None),
            Some(None) => (None, auth.map(decode)),
            Some(Some((u, p))) => ((!u.is_empty()).then(|| decode(u)), Some(decode(p))),
        };
        Ok(RedisAddr {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            username,
            password,
            db,
        })
    }
}

/// Percent-decoding of the user and password parts.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_redaction() {
        let a = RedisAddr::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.db), ("127.0.0.1", 6379, 0));
        let a = RedisAddr::parse("redis://alice:s%40cret@h:7/2").unwrap();
        assert_eq!(a.username.as_deref(), Some("alice"));
        assert_eq!(a.password.as_deref(), Some("s@cret"));
        assert_eq!(a.db, 2);
        assert_eq!(a.to_string(), "redis://alice:[redacted]@h:7/2");
        assert!(!format!("{a:?}").contains("cret"));
        let a = RedisAddr::parse("redis://:pw@h:7").unwrap();
        assert_eq!((a.username, a.password.as_deref()), (None, Some("pw")));
        assert!(RedisAddr::parse("redis://127.0.0.1").is_err());
        assert!(RedisAddr::parse("http://h:1").is_err());
        let e = RedisAddr::parse("redis://u:topsecret@h:x").unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
    }
}
