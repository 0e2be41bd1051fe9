//! Test helpers (compiled for tests only): the client's side of the
//! protocol, written independently of the codec: masked frame building
//! with a chosen length encoding, and deflate as a client would do it.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// How a frame header encodes its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LenForm {
    /// The shortest encoding.
    Minimal,
    /// Always the 16-bit form (if the length fits).
    Sixteen,
    /// Always the 64-bit form.
    SixtyFour,
}

/// A masked client frame: `b0` is FIN|RSV|opcode as raw bits.
pub(crate) fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4], form: LenForm) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![b0];
    match form {
        LenForm::Minimal if len < 126 => f.push(0x80 | len as u8),
        LenForm::Minimal | LenForm::Sixteen if len <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A masked, final frame with the minimal length form.
pub(crate) fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(b0, payload, [0x37, 0xfa, 0x21, 0x3d], LenForm::Minimal)
}

/// A client's deflate of one message (no context takeover), tail stripped.
pub(crate) fn client_deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    loop {
        let input = &data[c.total_in() as usize..];
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// The client's inflate of a server message: append the tail, inflate.
pub(crate) fn client_inflate(data: &[u8], window_bits: u8) -> Vec<u8> {
    let mut d = Decompress::new_with_window_bits(false, window_bits);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(4 * data.len() + 1024);
    loop {
        let at = d.total_in() as usize;
        d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// Parses a raw deflate stream (an RFC 7692 payload, tail stripped) and
/// returns (inflated length, longest back-reference distance). Test-only,
/// written from RFC 1951 §3.2, bit by bit: slow and simple.
pub(crate) fn deflate_stats(data: &[u8]) -> Result<(usize, usize), &'static str> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut b = BitReader {
        data: &input,
        pos: 0,
    };
    let (mut out, mut max_dist) = (0usize, 0usize);
    while b.pos + 3 <= input.len() * 8 {
        let last = b.bits(1)? == 1;
        match b.bits(2)? {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.bits(16)? as usize;
                if b.bits(16)? as usize != !len & 0xffff {
                    return Err("stored length");
                }
                b.pos += 8 * len;
                out += len;
            }
            1 => {
                let mut lens = vec![8u8; 144];
                lens.extend([9u8; 112]);
                lens.extend([7u8; 24]);
                lens.extend([8u8; 8]);
                let lit = Huffman::new(&lens);
                let dist = Huffman::new(&[5u8; 30]);
                codes(&mut b, &lit, &dist, &mut out, &mut max_dist)?;
            }
            2 => {
                let (lit, dist) = dynamic_tables(&mut b)?;
                codes(&mut b, &lit, &dist, &mut out, &mut max_dist)?;
            }
            _ => return Err("block type 3"),
        }
        if last || b.pos >= input.len() * 8 {
            break;
        }
    }
    Ok((out, max_dist))
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u32, &'static str> {
        let mut v = 0;
        for i in 0..n {
            let byte = *self.data.get(self.pos / 8).ok_or("out of data")?;
            v |= u32::from((byte >> (self.pos % 8)) & 1) << i;
            self.pos += 1;
        }
        Ok(v)
    }
}

/// A canonical Huffman code: symbol counts per length, symbols in order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[usize::from(l)] += 1;
        }
        counts[0] = 0;
        let mut symbols = Vec::new();
        for len in 1..16u8 {
            for (sym, &l) in lengths.iter().enumerate() {
                if l == len {
                    symbols.push(sym as u16);
                }
            }
        }
        Huffman { counts, symbols }
    }

    fn decode(&self, b: &mut BitReader<'_>) -> Result<u16, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.bits(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("bad code")
    }
}

fn dynamic_tables(b: &mut BitReader<'_>) -> Result<(Huffman, Huffman), &'static str> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let nlit = b.bits(5)? as usize + 257;
    let ndist = b.bits(5)? as usize + 1;
    let ncode = b.bits(4)? as usize + 4;
    let mut cl = [0u8; 19];
    for &i in &ORDER[..ncode] {
        cl[i] = b.bits(3)? as u8;
    }
    let clh = Huffman::new(&cl);
    let mut lens = Vec::new();
    while lens.len() < nlit + ndist {
        let (value, repeat) = match clh.decode(b)? {
            s @ 0..=15 => (s as u8, 1),
            16 => (*lens.last().ok_or("repeat first")?, 3 + b.bits(2)?),
            17 => (0, 3 + b.bits(3)?),
            _ => (0, 11 + b.bits(7)?),
        };
        lens.extend(std::iter::repeat_n(value, repeat as usize));
    }
    Ok((
        Huffman::new(&lens[..nlit]),
        Huffman::new(&lens[nlit..nlit + ndist]),
    ))
}

fn codes(
    b: &mut BitReader<'_>,
    lit: &Huffman,
    dist: &Huffman,
    out: &mut usize,
    max_dist: &mut usize,
) -> Result<(), &'static str> {
    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u32; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    loop {
        let sym = usize::from(lit.decode(b)?);
        match sym {
            0..=255 => *out += 1,
            256 => return Ok(()),
            _ => {
                let i = sym - 257;
                let len = usize::from(LBASE[i]) + b.bits(LEXTRA[i])? as usize;
                let d = usize::from(dist.decode(b)?);
                let extra = if d < 4 { 0 } else { (d as u32 - 2) / 2 };
                let distance = (DBASE[d] + b.bits(extra)?) as usize;
                if distance > *out {
                    return Err("distance before start");
                }
                *max_dist = (*max_dist).max(distance);
                *out += len;
            }
        }
    }
}
