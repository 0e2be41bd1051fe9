//! Random identifiers: connection and node ids (UUID v4 strings) and
//! history epochs. Drawn from the operating system's CSPRNG, so ids cannot
//! be predicted from other ids.

/// 16 random bytes; falls back to the (seeded, non-crypto) PRNG only when
/// the OS has no randomness to give.
fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        fastrand::fill(&mut b);
    }
    b
}

/// A connection id: a random UUID v4 kept inline as its 36 characters,
/// so a connection's id costs no allocation. Reads as a `&str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId([u8; 36]);

impl ConnectionId {
    /// A new random id.
    pub fn random() -> ConnectionId {
        let mut b = [b'0'; 36];
        b.copy_from_slice(new_connection_id().as_bytes());
        ConnectionId(b)
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII: built from a formatted UUID.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ConnectionId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A random UUID v4 string (connection ids, node ids).
pub fn new_connection_id() -> String {
    let b = random_bytes();
    let hi = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let lo = u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000; // version 4
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000; // variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A new random history epoch: 16 hex digits.
pub fn new_epoch() -> String {
    let b = random_bytes();
    let v = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    format!("{v:016x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_shape() {
        let id = super::new_connection_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, super::new_connection_id());
        assert_eq!(super::new_epoch().len(), 16);
        let c = super::ConnectionId::random();
        assert_eq!(c.len(), 36);
        assert_eq!(&c[14..15], "4");
        assert_eq!(format!("{c}"), c.as_str());
        assert_ne!(c, super::ConnectionId::random());
    }
}
