//! Criterion benchmarks of the hot paths: decoding small masked text
//! frames (the per-connection read path), decoding a large binary frame
//! (unmasking throughput), building server frames (the publish path),
//! compressing a 1 KB JSON publication, and inflating a compressed client
//! message (which, with client_no_context_takeover, builds an inflater per
//! message).
//!
//! Run: `flock /tmp/wavecast-build.lock cargo bench -p wavecast-ws --bench codec`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use wavecast_ws::{
    compress_message, encode_compressed_frame, encode_frame, frame_header, Compressor, Decoder,
    DeflateParams, Opcode,
};

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, 0x13, 0xc7, 0x81];
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

/// A realistic ~1 KB publication (protocol `publication` frame).
fn json_1k() -> Vec<u8> {
    let points: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{{\"t\":{},\"v\":{:.3}}}",
                1000 + i,
                (i as f64 * 0.37).sin()
            )
        })
        .collect();
    format!(
        "{{\"type\":\"publication\",\"channel\":\"sim:run-42\",\"offset\":1234,\
         \"timestamp\":\"2026-11-21T21:48:00.123Z\",\"data\":{{\"points\":[{}]}}}}",
        points.join(",")
    )
    .into_bytes()
}

/// Decodes every message in `buf`, returning how many there were.
fn drain(dec: &mut Decoder, buf: &mut [u8]) -> usize {
    let mut off = 0;
    let mut n = 0;
    while off < buf.len() {
        let (used, r) = dec.feed(&mut buf[off..]);
        off += used;
        if let Ok(Some(m)) = r {
            black_box(m);
            n += 1;
        }
    }
    n
}

fn decode(c: &mut Criterion) {
    let msg = br#"{"type":"subscribe","channel":"chat:lobby","id":"s1"}"#;
    let stream: Vec<u8> = (0..1000).flat_map(|_| masked(0x81, msg)).collect();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("1000 small text frames, one read", |b| {
        b.iter_batched_ref(
            || stream.clone(),
            |buf| drain(&mut Decoder::default(), buf),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("1000 small text frames, 100-byte reads", |b| {
        b.iter_batched_ref(
            || stream.clone(),
            |buf| {
                let mut dec = Decoder::default();
                buf.chunks_mut(100)
                    .map(|piece| drain(&mut dec, piece))
                    .sum::<usize>()
            },
            BatchSize::SmallInput,
        )
    });
    let big = masked(0x82, &vec![7u8; 64 * 1024]);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("one 64 KiB binary frame", |b| {
        b.iter_batched_ref(
            || big.clone(),
            |buf| drain(&mut Decoder::default(), buf),
            BatchSize::SmallInput,
        )
    });
    let json = json_1k();
    let compressed = masked(0xc1, &compress_message(&json, 15));
    let params = DeflateParams {
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("1 KB compressed text (new inflater per message)", |b| {
        b.iter_batched_ref(
            || compressed.clone(),
            |buf| drain(&mut Decoder::default().with_deflate(&params), buf),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let json = json_1k();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("encode_frame 1 KB", |b| {
        b.iter(|| encode_frame(Opcode::Text, black_box(&json)))
    });
    g.bench_function("encode_frame 64 B", |b| {
        b.iter(|| encode_frame(Opcode::Text, black_box(&json[..64])))
    });
    g.bench_function("frame_header", |b| {
        b.iter(|| frame_header(Opcode::Text, true, false, black_box(json.len())))
    });
    g.finish();
}

fn compress(c: &mut Criterion) {
    let json = json_1k();
    let z6 = compress_message(&json, 15).len();
    let z1 = Compressor::with_level(15, 1).compress(&json).len();
    eprintln!(
        "1 KB JSON: {} B -> level 6: {z6} B, level 1: {z1} B",
        json.len()
    );
    let mut g = c.benchmark_group("compress");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function(
        "compress_message 1 KB JSON (cached, level 6, window 15)",
        |b| b.iter(|| compress_message(black_box(&json), 15)),
    );
    g.bench_function("encode_compressed_frame 1 KB JSON (cached, level 6)", |b| {
        b.iter(|| encode_compressed_frame(Opcode::Text, black_box(&json), 15))
    });
    let mut fast = Compressor::with_level(15, 1);
    g.bench_function("Compressor level 1, window 15", |b| {
        b.iter(|| fast.compress(black_box(&json)))
    });
    let mut small = Compressor::new(10);
    g.bench_function("Compressor level 6, window 10", |b| {
        b.iter(|| small.compress(black_box(&json)))
    });
    g.bench_function("new Compressor per message (level 6)", |b| {
        b.iter(|| Compressor::new(15).compress(black_box(&json)))
    });
    g.finish();
}

criterion_group!(benches, decode, encode, compress);
criterion_main!(benches);
