#!/usr/bin/env python3
"""Writes the seed corpus of the `decoder` fuzz target (corpus/decoder/).

Each seed is: config byte, 2 split-seed bytes, then masked client frames
(layout documented in fuzz_targets/decoder.rs). Run from this directory.
"""
import os
import struct
import zlib

FIN, RSV1 = 0x80, 0x40
CONT, TEXT, BIN, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


def frame(b0, payload, key=b"\x37\xfa\x21\x3d", form="min"):
    n = len(payload)
    if form == "min" and n < 126:
        head = bytes([b0, 0x80 | n])
    elif form in ("min", "16") and n <= 0xFFFF:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def deflate(data, c=None):
    c = c or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def seed(config, frames):
    return bytes([config, 0x5A, 0xA5]) + b"".join(frames)


ctx = zlib.compressobj(6, zlib.DEFLATED, -15)
seeds = {
    "text": seed(0x10, [frame(FIN | TEXT, "héllo".encode())]),
    "fragmented_with_ping": seed(0x10, [
        frame(TEXT, b"Hel"), frame(FIN | PING, b"p"), frame(CONT, b""),
        frame(FIN | CONT, b"lo"), frame(FIN | BIN, bytes(range(200)), form="16"),
        frame(FIN | CLOSE, struct.pack(">H", 1000) + b"bye"),
    ]),
    "non_minimal_lengths": seed(0x10, [
        frame(FIN | BIN, b"abc", form="64"), frame(FIN | PONG, b"x", form="16"),
    ]),
    "utf8_split": seed(0x10, [frame(TEXT, b"a\xe2"), frame(CONT, b"\x82"), frame(FIN | CONT, b"\xac")]),
    "utf8_bad_split": seed(0x10, [frame(TEXT, b"a\xed"), frame(FIN | CONT, b"\xa0\x80")]),
    "deflate_no_takeover": seed(0x13, [
        frame(FIN | RSV1 | TEXT, deflate(b'{"type":"subscribe","channel":"a"}' * 4)),
        frame(RSV1 | BIN, deflate(bytes(300))[:3]),
    ]),
    "deflate_fragmented": seed(0x13, [
        frame(RSV1 | TEXT, deflate(b"abcabcabc" * 30)[:5]),
        frame(FIN | PING, b""),
        frame(FIN | CONT, deflate(b"abcabcabc" * 30)[5:]),
    ]),
    "deflate_takeover": seed(0x11, [
        frame(FIN | RSV1 | TEXT, deflate(b"the quick brown fox", ctx)),
        frame(FIN | RSV1 | TEXT, deflate(b"the quick brown fox again", ctx)),
    ]),
    "deflate_bomb": seed(0x11 | (4 << 2), [frame(FIN | RSV1 | BIN, deflate(bytes(200_000)))]),
    "too_big_fragments": seed(0x00, [frame(BIN, bytes(40)), frame(FIN | CONT, bytes(40))]),
    "close_bad_code": seed(0x10, [frame(FIN | CLOSE, struct.pack(">H", 1005))]),
}
os.makedirs("corpus/decoder", exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join("corpus/decoder", "seed_" + name), "wb") as f:
        f.write(data)
print(len(seeds), "seeds written")
