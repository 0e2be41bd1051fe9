//! Incremental UTF-8 validation for text messages that arrive in pieces
//! (across reads, across fragments, or out of the inflater).
//!
//! Invariants: at most 3 bytes of an incomplete character are carried over;
//! an error is reported as soon as the bytes seen so far cannot start any
//! valid character (fail fast, e.g. `ED A0` or `F4 90` with nothing after);
//! [`Utf8Validator::is_complete`] is true iff everything fed so far is valid
//! and ends on a character boundary.

use std::str;

/// The state carried between pieces: the tail of an unfinished character.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Utf8Validator {
    pending: [u8; 4],
    len: u8,
}

/// Marker: the text is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

impl Utf8Validator {
    /// Validates the next piece of text.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), Invalid> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let need = char_width(self.pending[0]).saturating_sub(have);
            let take = need.min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            let filled = have + take;
            match str::from_utf8(&self.pending[..filled]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_some() => return Err(Invalid),
                Err(_) => {
                    self.len = filled as u8;
                    return Ok(());
                }
            }
            data = &data[take..];
        }
        match str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Invalid),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// True when no character is left unfinished.
    pub(crate) fn is_complete(&self) -> bool {
        self.len == 0
    }
}

/// The length of the character a valid lead byte starts.
fn char_width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(data: &[u8], split: usize) -> Result<bool, Invalid> {
        let mut v = Utf8Validator::default();
        v.feed(&data[..split])?;
        v.feed(&data[split..])?;
        Ok(v.is_complete())
    }

    #[test]
    fn valid_text_at_every_split_and_byte_by_byte() {
        let text = "aé€😀z κόσμε 𝄞".as_bytes();
        for split in 0..=text.len() {
            assert_eq!(feed_split(text, split), Ok(true), "split {split}");
        }
        let mut v = Utf8Validator::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(v.is_complete());
    }

    #[test]
    fn incomplete_at_end_is_not_complete() {
        let mut v = Utf8Validator::default();
        v.feed(&[b'a', 0xe2, 0x82]).unwrap();
        assert!(!v.is_complete());
        v.feed(&[0xac]).unwrap();
        assert!(v.is_complete());
    }

    #[test]
    fn fails_fast_on_impossible_prefixes() {
        // A surrogate lead (ED A0) and a code point over U+10FFFF (F4 90)
        // are refused before the character's last byte arrives.
        for bad in [&[0xed, 0xa0][..], &[0xf4, 0x90], &[0xc0], &[0xf5], &[0x80]] {
            let mut v = Utf8Validator::default();
            assert_eq!(v.feed(bad), Err(Invalid), "{bad:02x?}");
        }
        let mut v = Utf8Validator::default();
        v.feed(&[0xf4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(Invalid));
        let mut v = Utf8Validator::default();
        v.feed(&[0xe2, 0x82]).unwrap();
        assert_eq!(v.feed(&[0x41]), Err(Invalid));
    }

    #[test]
    fn invalid_at_every_split() {
        let bad = b"ok \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
        for split in 0..=bad.len() {
            assert_eq!(feed_split(bad, split), Err(Invalid), "split {split}");
        }
    }
}
