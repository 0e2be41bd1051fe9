#!/usr/bin/env python3
"""Writes the seed corpus of the server fuzz targets (corpus/<target>/).

auth: byte 0 = 0 (a raw JWT), 1 (header 0xFF claims, signed by the
target with the right secret) or 2 (8-byte little-endian timestamp, then a
signature). filters: pattern 0xFF name 0xFF filter-JSON 0xFF data-JSON.
Run from this directory; the fuzzer adds what it finds next to these.
"""
import base64
import hashlib
import hmac
import json
import os
import struct

SECRET = b"fuzz-secret"
FAR = 4102444800  # 2100-01-01


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(header, claims, key=SECRET):
    h, c = b64(json.dumps(header).encode()), b64(json.dumps(claims).encode())
    sig = hmac.new(key, h + b"." + c, hashlib.sha256).digest()
    return h + b"." + c + b"." + b64(sig)


HS = {"alg": "HS256", "typ": "JWT"}
raw = [
    jwt(HS, {"sub": "alice", "exp": FAR}),
    jwt(HS, {"sub": "alice", "exp": 1}),
    jwt(HS, {"sub": "alice", "exp": FAR}, key=b"wrong"),
    jwt({"alg": "none"}, {"sub": "x", "exp": FAR}).rsplit(b".", 1)[0] + b".",
    b"not.a.token", b"", b"....", b"eyJhbGciOiJIUzI1NiJ9",
]
signed = [
    (HS, {"sub": "alice", "exp": FAR}),
    (HS, {"sub": -1, "exp": FAR}),
    (HS, {"sub": 12345678901234567890, "exp": FAR}),
    (HS, {"sub": "", "exp": FAR}),
    (HS, {"sub": {"a": 1}, "exp": FAR}),
    (HS, {"sub": 1.5, "exp": FAR}),
    (HS, {"sub": "u", "exp": FAR, "channels": ["chat:*"], "rooms": ["r"]}),
    (HS, {"sub": "u", "exp": FAR, "channels": "chat:*"}),
    (HS, {"sub": "u"}),
    (HS, {"sub": "u", "exp": FAR, "nbf": FAR}),
    ({"alg": "HS384"}, {"sub": "u", "exp": FAR}),
    ({"alg": "none"}, {"sub": "u", "exp": FAR}),
    ({"alg": "RS256"}, {"sub": "u", "exp": FAR}),
    (HS, [1, 2]),
]
auth = [b"\x00" + t for t in raw]
auth += [b"\x01" + json.dumps(h).encode() + b"\xff" + json.dumps(c).encode() for h, c in signed]
auth += [b"\x01" + json.dumps({"sub": "plain", "exp": FAR}).encode()]
ts = 1700000000000
right = hmac.new(SECRET, str(ts).encode(), hashlib.sha256).hexdigest().encode()
auth += [b"\x02" + struct.pack("<Q", ts) + s for s in (right, right.upper(), b"00", b"", right[:-1] + b"0")]

filters = [
    (b"chat:*", b"chat:1", {"type": "price"}, {"sym": "A"}),
    (b"a*b*c", b"axxbyyc", {"sym": "A"}, {"sym": "A"}),
    (b"*", b"", {}, None),
    (b"**a", b"aaa", {"n": 1}, {"n": 1.0}),
    (b"news", b"news2", {"k": [1, {"x": None}]}, {"k": [1, {"x": None}]}),
    (b"a*", b"b", {"type": "b", "x": 1}, [1, 2]),
    (b"user:*:inbox", b"user:42:inbox", {"type": "publication"}, {"x": 1}),
    (b"", b"", {"a": "b"}, "scalar"),
    (b"*:*", b"ns:", {"x": {"y": [1]}}, {"x": {"y": [1]}}),
]
filt = []
for p, n, f, d in filters:
    item = p + b"\xff" + n + b"\xff" + json.dumps(f).encode()
    if d is not None:
        item += b"\xff" + json.dumps(d).encode()
    filt.append(item)
filt += [b"*a*a*a*a*a*a*b\xff" + b"a" * 200, b"\xff", b"x"]

for target, items in (("auth", auth), ("filters", filt)):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for i, data in enumerate(items):
        with open(f"corpus/{target}/seed-{i:02d}", "wb") as f:
            f.write(data)
