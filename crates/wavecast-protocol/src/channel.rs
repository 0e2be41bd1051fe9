//! Channel names: the allowed charset, the length bound and namespaces.
//!
//! A channel name is 1 to 255 bytes of ASCII letters, digits and
//! `_ - : . @ # /`. Its namespace is the part before the first `:`;
//! a name without `:` belongs to the `default` namespace.

/// Longest allowed channel name, in bytes.
pub const MAX_CHANNEL_LEN: usize = 255;

/// The namespace used by channels whose name has no `:`.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    Empty,
    TooLong(usize),
    BadChar(char),
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Empty => f.write_str("channel name is empty"),
            ChannelError::TooLong(n) => {
                write!(
                    f,
                    "channel name is {n} bytes, the limit is {MAX_CHANNEL_LEN}"
                )
            }
            ChannelError::BadChar(c) => write!(
                f,
                "channel name contains {c:?}; allowed are letters, digits and _ - : . @ # /"
            ),
        }
    }
}

/// True for the bytes allowed in a channel name.
#[inline]
pub fn is_channel_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.' | b'@' | b'#' | b'/')
}

/// Checks a channel name against the documented rules.
pub fn validate_channel(name: &str) -> Result<(), ChannelError> {
    if name.is_empty() {
        return Err(ChannelError::Empty);
    }
    if name.len() > MAX_CHANNEL_LEN {
        return Err(ChannelError::TooLong(name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii() || !is_channel_byte(*c as u8))
    {
        return Err(ChannelError::BadChar(c));
    }
    Ok(())
}

/// The namespace of a channel: the part before the first `:`, or `default`.
pub fn namespace_of(name: &str) -> &str {
    match name.find(':') {
        Some(i) if i > 0 => &name[..i],
        _ => DEFAULT_NAMESPACE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_charset() {
        assert!(validate_channel("chat:room-1_a.b@c#d/e").is_ok());
        assert!(validate_channel(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(validate_channel(""), Err(ChannelError::Empty));
        assert_eq!(
            validate_channel(&"a".repeat(256)),
            Err(ChannelError::TooLong(256))
        );
        assert_eq!(validate_channel("a b"), Err(ChannelError::BadChar(' ')));
        assert_eq!(validate_channel("é"), Err(ChannelError::BadChar('é')));
        assert_eq!(validate_channel("a\"b"), Err(ChannelError::BadChar('"')));
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace_of("chat:1"), "chat");
        assert_eq!(namespace_of("chat:1:2"), "chat");
        assert_eq!(namespace_of("news"), "default");
        assert_eq!(namespace_of(":x"), "default");
    }
}
