//! Criterion benchmark of the agent relay's per-event work on the
//! upstream side: an upstream body cut into events (NDJSON and SSE, fed
//! in 4 KiB chunks as a socket would give them) and each event read
//! (`interpret`), for 1000 typical `partial_result` token events.
//!
//! Run: `flock /tmp/wavecast-build.lock cargo bench -p wavecast-server --bench agent_events`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wavecast_server::agents::event::{interpret, Item};
use wavecast_server::agents::framing::{Decoder, Framing};

const EVENTS: usize = 1000;

fn ndjson_body() -> Vec<u8> {
    (0..EVENTS)
        .map(|i| {
            format!("{{\"type\":\"partial_result\",\"data\":{{\"text\":\"token{i} \",\"index\":{i}}}}}\n")
        })
        .collect::<String>()
        .into_bytes()
}

fn sse_body() -> Vec<u8> {
    (0..EVENTS)
        .map(|i| {
            format!("event: partial_result\ndata: {{\"data\":{{\"text\":\"token{i} \",\"index\":{i}}}}}\n\n")
        })
        .collect::<String>()
        .into_bytes()
}

/// Decodes and reads every event of `body`; returns how many.
fn relay(framing: Framing, body: &[u8]) -> usize {
    let mut d = Decoder::new(framing, 1 << 20);
    let mut n = 0;
    for chunk in body.chunks(4096) {
        d.push(chunk);
        while let Ok(Some(p)) = d.next_payload() {
            if let Ok(Item::Event(e)) = interpret(&p.text, p.name.as_deref()) {
                black_box(e);
                n += 1;
            }
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("agent_events");
    g.throughput(Throughput::Elements(EVENTS as u64));
    for (name, framing, body) in [
        ("ndjson_1000", Framing::Ndjson, ndjson_body()),
        ("sse_1000", Framing::Sse, sse_body()),
    ] {
        assert_eq!(relay(framing, &body), EVENTS);
        g.bench_function(name, |b| b.iter(|| relay(framing, black_box(&body))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
