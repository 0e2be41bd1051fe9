//! Heap accounting of the decoder and the deflate states, measured with a
//! counting global allocator (per thread, so parallel tests don't mix).
//! Prints the figures (`cargo test -p wavecast-ws --test memory --
//! --nocapture`) and asserts the bounds the design promises: an idle
//! decoder owns no heap; a split message's buffer is freed when it ends;
//! a size-limit refusal or a deflate bomb never makes the decoder hold
//! much more than the limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wavecast_ws::{Compressor, Decoder, DeflateParams, Message, WsError};

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + n;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        sub(layout.size());
        add(new);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.with(Cell::get)
}

/// Runs `f` and returns (its result, bytes still held, peak above start).
fn measure<T>(f: impl FnOnce() -> T) -> (T, isize, usize) {
    let start = live();
    PEAK.with(|p| p.set(start));
    let out = f();
    let held = live() as isize - start as isize;
    (out, held, PEAK.with(Cell::get) - start)
}

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A client's deflate of one message, tail stripped.
fn deflate(data: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let at = c.total_in() as usize;
        c.compress_vec(&data[at..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len() - 4);
    out
}

/// Feeds `input` in pieces of `piece` bytes; returns messages or the error.
fn feed_all(dec: &mut Decoder, input: &mut [u8], piece: usize) -> Result<Vec<Message>, WsError> {
    let mut msgs = Vec::new();
    let mut off = 0;
    while off < input.len() {
        let end = (off + piece).min(input.len());
        let mut at = off;
        while at < end {
            let (n, r) = dec.feed(&mut input[at..end]);
            at += n;
            if let Some(m) = r? {
                msgs.push(m);
            }
        }
        off = end;
    }
    Ok(msgs)
}

#[test]
fn idle_decoder_holds_no_heap_after_split_messages() {
    eprintln!("size_of::<Decoder>() = {}", std::mem::size_of::<Decoder>());
    assert!(std::mem::size_of::<Decoder>() <= 64);
    let mut dec = Decoder::new(1 << 20);
    let mut input = [
        masked(0x01, &[b'a'; 3000]),
        masked(0x89, b"ping"),
        masked(0x80, &[b'b'; 5000]),
    ]
    .concat();
    let (msgs, held, peak) = measure(|| {
        let msgs = feed_all(&mut dec, &mut input, 1000).unwrap();
        let n = msgs.len();
        drop(msgs);
        n
    });
    eprintln!("split 8000-byte message in 1000-byte reads: peak {peak} B, held after {held} B");
    assert_eq!(msgs, 2);
    assert_eq!(
        held, 0,
        "nothing kept once the message is delivered and dropped"
    );
    assert!(peak <= 2 * 8000 + 512, "peak {peak}");
    assert!(dec.is_idle());
}

#[test]
fn size_limit_refusal_buffers_at_most_the_limit() {
    let limit = 64 * 1024;
    let mut dec = Decoder::new(limit);
    let frag = vec![b'x'; 30_000];
    let mut input = [
        masked(0x02, &frag),
        masked(0x00, &frag),
        masked(0x80, &frag),
    ]
    .concat();
    let (r, held, peak) = measure(|| feed_all(&mut dec, &mut input, 4096).map(|m| m.len()));
    eprintln!("1009 across fragments (limit {limit}): peak {peak} B, held after {held} B");
    assert_eq!(r, Err(WsError::MessageTooBig));
    assert!(peak <= limit + 256, "peak {peak}");
    assert_eq!(held, 0);
}

#[test]
fn deflate_bomb_peak_memory() {
    let limit = 64 * 1024;
    let params = DeflateParams {
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let mut dec = Decoder::new(limit).with_deflate(&params);
    let mut input = masked(0xc2, &deflate(&vec![0u8; 50 << 20]));
    let wire = input.len();
    let (r, held, peak) = measure(|| feed_all(&mut dec, &mut input, 16 * 1024).map(|m| m.len()));
    eprintln!("deflate bomb: 50 MiB of zeros in {wire} B on the wire, limit {limit}: peak {peak} B, held after {held} B");
    assert_eq!(r, Err(WsError::MessageTooBig));
    assert!(peak <= limit + 64 * 1024, "peak {peak}");
    assert_eq!(held, 0);
}

#[test]
fn inflate_state_costs() {
    for (bits, no_takeover) in [(15u8, false), (9, false), (15, true)] {
        let params = DeflateParams {
            client_max_window_bits: bits,
            client_no_context_takeover: no_takeover,
            ..DeflateParams::default()
        };
        let mut dec = Decoder::new(1 << 20).with_deflate(&params);
        let text = r#"{"type":"subscribe","channel":"sim.42"}"#;
        let mut input = masked(0xc1, &deflate(text.as_bytes()));
        let (n, held, peak) = measure(|| feed_all(&mut dec, &mut input, 4096).map(|m| m.len()));
        assert_eq!(n, Ok(1));
        eprintln!(
            "inflate, client window {bits}, no_context_takeover {no_takeover}: held between messages {held} B, peak {peak} B"
        );
        if no_takeover {
            assert_eq!(held, 0);
            assert!(dec.is_idle());
        } else {
            assert!(held > 0 && held < 64 * 1024, "held {held}");
        }
    }
}

#[test]
fn compressor_state_costs() {
    for bits in [15u8, 12, 9] {
        let (c, held, _) = measure(|| Compressor::new(bits));
        let json = br#"{"type":"data","channel":"sim.1","seq":1,"payload":[1,2,3]}"#;
        let mut c = c;
        let (_, _, peak) = measure(|| c.compress(json));
        eprintln!("Compressor window {bits}: state {held} B, compress peak {peak} B");
        assert!(held > 0);
    }
}
