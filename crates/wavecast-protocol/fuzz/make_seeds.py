#!/usr/bin/env python3
"""Writes the seed corpus of the protocol fuzz targets (corpus/<target>/).

client_message: text frames of the channel protocol; channel: channel
names; dialects: byte 0 = dialect index (0 wavecast, 1 fog, 2 netra,
3 neurograph, 4 mfn) + 8 for MessagePack, then the frame. Run from this
directory; the fuzzer adds what it finds next to these.
"""
import json
import os
import struct

FRAMES = [
    {"type": "subscribe", "channel": "news"},
    {"type": "subscribe", "channel": "h:x", "id": 3, "recover": {"offset": 5, "epoch": "e1"}},
    {"type": "subscribe", "channel": "h:x", "since": {"offset": 2}, "snapshot": True,
     "filter": {"type": "price", "sym": "ACME"}},
    {"type": "subscribe", "channels": ["a", "b:c"], "id": "s1"},
    {"type": "unsubscribe", "channel": "news", "id": 9},
    {"type": "publish", "channel": "chat:1", "data": {"text": "hi", "n": [1, 2.5, None, True]}},
    {"type": "publish", "channel": "chat:1", "data": 1, "event": "typing", "idempotency_key": "k"},
    {"type": "history", "channel": "h:x", "limit": 10, "id": 1},
    {"type": "ping", "id": "p1"},
    {"type": "pong"},
    {"type": "auth", "token": "a.b.c"},
    {"type": "auth", "api_key": "k", "timestamp": 1700000000000, "signature": "ab" * 32},
    {"type": "auth", "key_id": "app", "timestamp": 1700000000000, "signature": "00"},
    {"type": "presence", "channel": "room"},
    {"type": "rpc", "method": "m", "data": {}},
    {"type": "user_message", "correlation_id": "c1", "text": "hello"},
    {"type": "agent_request", "correlation_id": "c2", "agent": "demo", "input": "x"},
    {"type": 5},
    {"channel": "no-type"},
]
RAW = [b"", b"{", b"[]", b"null", b'{"type":"subscribe","channel":"a b"}',
       b'{"type":"subscribe","channel":"' + b"a" * 256 + b'"}',
       b'{"type":"PING"}', b'{"type":"publish","channel":"x","data":' + b"[" * 70 + b"1" + b"]" * 70 + b"}"]
CHANNELS = [b"news", b"chat:room-1_a.b@c#d/e", b"a" * 255, b"a" * 256, b"", b"a b", b":x",
            b"ns:", b"default:x", "é".encode(), b"user:42", b"x:y:z", b"#/@"]
DIALECT_FRAMES = [
    (0, {"type": "subscribe", "channel": "c"}),
    (1, {"type": "subscribe", "channel": "c"}),
    (1, {"type": "pong"}),
    (2, {"type": "subscribe", "payload": {"channel": "c"}, "id": "n1"}),
    (2, {"type": "user_message", "payload": {"correlation_id": "c", "text": "t"}}),
    (3, {"type": "SUBSCRIBE", "channel": "c"}),
    (4, {"type": "SUBSCRIBE", "channel": "c", "id": 2}),
    (4, {"type": "ping"}),
    (0, {"type": "publish", "channel": "c", "data": {"deep": [[[{"a": "[\\\"]"}]]]}}),
    (2, {"type": "publish", "payload": {"channel": "c", "data": "x"}}),
]


def msgpack(v):
    """A tiny MessagePack encoder for the seed values."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError(v)


def write(target, items):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for i, data in enumerate(items):
        with open(f"corpus/{target}/seed-{i:02d}", "wb") as f:
            f.write(data)


write("client_message", [json.dumps(f).encode() for f in FRAMES] + RAW)
write("channel", CHANNELS)
dialects = [bytes([d]) + json.dumps(f).encode() for d, f in DIALECT_FRAMES]
dialects += [bytes([8 | d]) + msgpack(f) for d, f in DIALECT_FRAMES]
dialects += [b"\x08\xc4\x03abc", b"\x08\x81\x01\x02", b"\x00" + b"[" * 200, b"\x0a" + b"\x91" * 300]
write("dialects", dialects)
