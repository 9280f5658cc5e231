#!/usr/bin/env python3
"""The peer for `bench mail`: Python's standard email package parsing the same
corpus, decoding every body and attachment the way a mail client would.

Prints one JSON object: {"messages": N, "bytes": B, "seconds": S}.
"""
import email
import email.policy
import json
import os
import sys
import time


def main(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".eml"))
    corpus = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            corpus.append(f.read())
    best = None
    for _ in range(3):
        start = time.perf_counter()
        for raw in corpus:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            _ = (msg["subject"], msg["from"], msg["to"], msg["date"], msg["message-id"])
            body = msg.get_body(preferencelist=("plain", "html"))
            if body is not None:
                try:
                    body.get_content()
                except (LookupError, ValueError):
                    pass
            for part in msg.iter_attachments():
                try:
                    part.get_content()
                except (LookupError, ValueError, KeyError):
                    pass
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    print(json.dumps({"messages": len(corpus), "bytes": sum(map(len, corpus)), "seconds": best}))


if __name__ == "__main__":
    main(sys.argv[1])
