//! Masking (RFC 6455 §5.3): XOR of the payload with a 4-byte key, in place.
//!
//! Invariant: [`apply_mask`] returns the key rotated by `buf.len() % 4`, so
//! masking a payload in several pieces, each with the key returned by the
//! previous call, equals masking it whole.

/// XORs `buf` with `key` (repeated from key byte 0), in place, and returns
/// the key to use for the bytes that follow `buf`.
pub fn apply_mask(buf: &mut [u8], mut key: [u8; 4]) -> [u8; 4] {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            xor_word(word, wide);
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        xor_word(word, wide);
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
    key.rotate_left(buf.len() & 3);
    key
}

#[inline(always)]
fn xor_word(word: &mut [u8], wide: u64) {
    if let Ok(bytes) = <[u8; 8]>::try_from(&*word) {
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }

    #[test]
    fn matches_naive_for_all_lengths_and_splits() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..80 {
            let orig: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut expected = orig.clone();
            naive(&mut expected, key);
            let mut whole = orig.clone();
            apply_mask(&mut whole, key);
            assert_eq!(whole, expected, "len {len}");
            for split in 0..=len {
                let mut parts = orig.clone();
                let (a, b) = parts.split_at_mut(split);
                let next = apply_mask(a, key);
                apply_mask(b, next);
                assert_eq!(parts, expected, "len {len} split {split}");
            }
        }
    }

    #[test]
    fn masking_twice_restores() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let orig = b"Hello, masked world! 0123456789abcdef".to_vec();
        let mut buf = orig.clone();
        apply_mask(&mut buf, key);
        assert_ne!(buf, orig);
        apply_mask(&mut buf, key);
        assert_eq!(buf, orig);
    }
}
