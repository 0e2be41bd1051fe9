"""Sign an auth message, as in the MFN document's "Signature Generation
(Client-Side)" snippet: ``HMAC-SHA256(api_key, timestamp)``, hex.

    python examples/sign.py --api-key key-one [--timestamp 1795297680000]
    python examples/sign.py --key-id mobile --secret mobile-secret

Prints the timestamp, the signature, and the ``auth`` message to send.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time

import wavecast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-key", help="sign with this API key (the api_key form)")
    ap.add_argument("--key-id", help="sign as this [auth.keys] id (the key_id form) ...")
    ap.add_argument("--secret", help="... with its secret, which never travels")
    ap.add_argument("--timestamp", type=int, help="milliseconds since the epoch (default: now)")
    args = ap.parse_args()
    if bool(args.api_key) == bool(args.key_id) or (args.key_id and not args.secret):
        ap.error("give --api-key, or --key-id with --secret")

    # The MFN snippet, verbatim in spirit: a millisecond timestamp, its
    # decimal string, and HMAC-SHA256 keyed with the secret, hex-encoded.
    key = args.api_key or args.secret
    timestamp = args.timestamp if args.timestamp is not None else int(time.time() * 1000)
    timestamp_str = str(timestamp)
    signature = hmac.new(key.encode("utf-8"), timestamp_str.encode("utf-8"), hashlib.sha256).hexdigest()

    # The package does the same.
    assert signature == wavecast.sign(key, timestamp)

    message: dict[str, object] = {"type": "auth", "timestamp": timestamp, "signature": signature}
    if args.api_key:
        message["api_key"] = args.api_key
    else:
        message["key_id"] = args.key_id
    print(f"timestamp: {timestamp_str}")
    print(f"signature: {signature}")
    print(json.dumps(message))


if __name__ == "__main__":
    main()
