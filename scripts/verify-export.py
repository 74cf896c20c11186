#!/usr/bin/env python3
"""Verifies an Altyn Consent export without any of Altyn Consent's code.

A compliance officer (or the backend) can check a borrower's consent history
with nothing but Python's standard library:

    python3 scripts/verify-export.py export.json

It recomputes every event hash and policy hash from the rule written in the
export itself, walks the chain from the first event to the stated head, and
checks that the policy text each event refers to is included. Exit code 0
means the history is intact; 1 names the first broken event.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64


def canonical(value):
    # Keys sorted, no whitespace, UTF-8 (keys are ASCII, so code-point order
    # equals UTF-8 byte order).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def domain_hash(domain, value):
    return hashlib.sha256(domain.encode() + b"\n" + canonical(value)).hexdigest()


def main(path):
    with open(path, encoding="utf-8") as f:
        export = json.load(f)
    if export.get("format") != "altyn-consent-export/1":
        return fail(f"not an Altyn Consent export (format {export.get('format')!r})")
    policy_hashes = {domain_hash("altyn-consent/policy/v1", p) for p in export["policies"]}
    prev = GENESIS
    for n, event in enumerate(export["events"], start=1):
        where = f"event #{event.get('seq')} ({event.get('id')})"
        if event["seq"] != n:
            return fail(f"{where}: sequence number {event['seq']} where {n} was expected")
        if event["prev_hash"] != prev:
            return fail(f"{where}: its link to the previous event does not match")
        body = {k: v for k, v in event.items() if k != "hash"}
        if domain_hash("altyn-consent/event/v1", body) != event["hash"]:
            return fail(f"{where}: its content does not match its hash")
        if event["policy"]["hash"] not in policy_hashes:
            return fail(f"{where}: the policy text it refers to is not in the export")
        prev = event["hash"]
    head = export["head"]
    if head["events"] != len(export["events"]) or head["hash"] != prev:
        return fail("the chain does not end at the stated head: events were removed")
    kinds = ", ".join(e["kind"]["type"] for e in export["events"])
    print(f"export verified independently: {len(export['events'])} events, head {prev[:12]} ({kinds})")
    return 0


def fail(message):
    print(f"export NOT verified: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: verify-export.py EXPORT.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
