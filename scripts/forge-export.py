#!/usr/bin/env python3
"""Makes the forgeries someone holding the store's key could make of an
export, to show that the verifiers catch them through the server's receipts
(test.sh runs it). Each forged export has a valid hash chain and head:

    forge-export.py EXPORT.json OUT_DIR

writes OUT_DIR/removed-last.json (the last acknowledged event deleted) and
OUT_DIR/rewritten.json (a denied permission turned into a grant, every hash
after it recomputed).
"""
import copy
import hashlib
import json
import sys


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(event):
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(b"altyn-consent/event/v1\n" + canonical(body)).hexdigest()


def rechain(events, start):
    prev = events[start - 1]["hash"] if start > 0 else "0" * 64
    for event in events[start:]:
        event["prev_hash"] = prev
        event["hash"] = event_hash(event)
        prev = event["hash"]


def with_head(export):
    export["head"] = {"events": len(export["events"]), "hash": export["events"][-1]["hash"]}
    return export


def main(path, out):
    with open(path, encoding="utf-8") as f:
        export = json.load(f)
    assert export["receipts"], "the export must carry receipts"

    removed = copy.deepcopy(export)
    removed["events"].pop()
    with open(f"{out}/removed-last.json", "w", encoding="utf-8") as f:
        json.dump(with_head(removed), f)

    rewritten = copy.deepcopy(export)
    events = rewritten["events"]
    n = next(i for i, e in enumerate(events) if e["kind"].get("decision") == "denied")
    events[n]["kind"]["decision"] = "granted"
    rechain(events, n)
    with open(f"{out}/rewritten.json", "w", encoding="utf-8") as f:
        json.dump(with_head(rewritten), f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
