#!/usr/bin/env python3
"""Verifies an Altyn Consent export without any of Altyn Consent's code.

A compliance officer (or the backend) can check a borrower's consent history
with Python's standard library and, for the server's signed receipts, the
`cryptography` package (Ed25519):

    python3 scripts/verify-export.py export.json [--server-key HEX ...]

It recomputes every event hash and policy hash from the rule written in the
export itself, walks the chain from the first event to the stated head,
checks that the policy text each event refers to is included, and checks
every receipt the export carries: its Ed25519 signature by one of the given
server keys (64 hex digits, as `receipt-key.pub`), and that each event it
acknowledges is in the chain with the same id and hash. Someone holding the
store's key can re-hash a chain; only the server can sign a receipt. Exit
code 0 means the history is intact; 1 names the first broken event or
receipt; 2 is a usage error (e.g. receipts and no key to check them).
"""
import argparse
import base64
import datetime
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


def check_receipts(export, keys):
    """Each receipt: signed by a trusted key, for this installation, and
    every event it acknowledges is in the chain, equal."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    trusted = {hashlib.sha256(k).hexdigest()[:16]: Ed25519PublicKey.from_public_bytes(k) for k in keys}
    events = export["events"]
    for n, receipt in enumerate(export.get("receipts", []), start=1):
        body = receipt["body"]
        where = f"receipt #{n} (received {body.get('received_at')}, key {body.get('key_id')})"
        key = trusted.get(body["key_id"])
        if key is None:
            return fail(f"{where}: not signed by a trusted server key")
        try:
            key.verify(base64.b64decode(receipt["signature"]), b"altyn-consent/receipt/v1\n" + canonical(body))
        except (InvalidSignature, ValueError):
            return fail(f"{where}: its signature does not verify: it was altered or forged")
        if body["install_id"] != export["install_id"]:
            return fail(f"{where}: it is for another installation")
        for ack in body["acknowledged"]:
            seq = ack["seq"]
            if not 1 <= seq <= len(events):
                return fail(f"{where}: it acknowledges event #{seq} and the chain ends at #{len(events)}: events were removed")
            event = events[seq - 1]
            if event["id"] != ack["id"] or event["hash"] != ack["hash"]:
                return fail(f"{where}: event #{seq} is not the one the server acknowledged: it was altered or replaced")
        head = body["head"]
        if head["events"] > 0:
            if head["events"] > len(events):
                return fail(f"{where}: the server's chain then ended at event #{head['events']} and the chain ends at #{len(events)}: events were removed")
            if events[head["events"] - 1]["hash"] != head["hash"]:
                return fail(f"{where}: the server's chain then ended at event #{head['events']} with another hash: the chain was rewritten")
    return 0


def check_documents(export, keys):
    """What the ledger itself carries as proof (as the core's
    check_signed_events): each written statement against the hash it records
    and the events it names; each receipt of delivery and unblock decision
    signed by a trusted key and naming a statement or report of this ledger."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    trusted = {hashlib.sha256(k).hexdigest()[:16]: Ed25519PublicKey.from_public_bytes(k) for k in keys}
    seen = []
    for event in export["events"]:
        kind = event["kind"]
        where = f"event #{event['seq']} ({event['id']})"
        if kind["type"] == "statement_issued":
            st = kind["statement"]
            if domain_hash("altyn-consent/statement/v1", st) != kind["statement_hash"]:
                return fail(f"{where}: its statement does not match the statement hash it records")
            for ref in st["events"]:
                if not any(e["id"] == ref["id"] and e["seq"] == ref["seq"] and e["hash"] == ref["hash"] for e in seen):
                    return fail(f"{where}: its statement rests on event #{ref['seq']} which the ledger does not hold as named")
        elif kind["type"] in ("statement_delivered", "access_restored"):
            doc = kind["receipt"] if kind["type"] == "statement_delivered" else kind["decision"]
            domain = b"altyn-consent/statement-receipt/v1\n" if kind["type"] == "statement_delivered" else b"altyn-consent/unblock/v1\n"
            key = trusted.get(doc["body"]["key_id"])
            if key is None:
                return fail(f"{where}: its signed document is not signed by a trusted server key")
            try:
                key.verify(base64.b64decode(doc["signature"]), domain + canonical(doc["body"]))
            except (InvalidSignature, ValueError):
                return fail(f"{where}: its signed document does not verify: it was altered or forged")
            body = doc["body"]
            if kind["type"] == "statement_delivered":
                ok = any(
                    e["kind"]["type"] == "statement_issued"
                    and e["kind"]["statement"]["id"] == body["statement_id"]
                    and e["kind"]["statement_hash"] == body["statement_hash"]
                    and e["id"] == body["event_id"]
                    for e in seen
                )
            else:
                reports = {e["id"] for e in seen if e["kind"]["type"] == "compromise_reported"}
                ok = bool(body["reports"]) and all(r in reports for r in body["reports"])
            if not ok:
                return fail(f"{where}: its signed document names a statement or report the ledger does not hold")
        seen.append(event)
    return 0


def main(path, keys):
    with open(path, encoding="utf-8") as f:
        export = json.load(f)
    if export.get("format") not in ("altyn-consent-export/1", "altyn-consent-export/2"):
        return fail(f"not an Altyn Consent export (format {export.get('format')!r})")
    policy_hashes = {domain_hash("altyn-consent/policy/v1", p) for p in export["policies"]}
    prev = GENESIS
    for n, event in enumerate(export["events"], start=1):
        where = f"event #{event.get('seq')} ({event.get('id')})"
        if type(event["seq"]) is not int or event["seq"] != n:
            return fail(f"{where}: sequence number {event['seq']!r} where {n} was expected")
        if event["install_id"] != export["install_id"]:
            return fail(f"{where}: it belongs to another installation than the one the export names")
        if not is_utc_time(event["at"]):
            return fail(f"{where}: its time {event['at']!r} is not an RFC 3339 date-time")
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
    # Whose consent: the account the ledger was last linked to, else the installation.
    linked = [e["kind"]["account_id"] for e in export["events"] if e["kind"]["type"] == "account_linked"]
    subject = linked[-1] if linked else export["install_id"]
    if export["subject"] != subject:
        return fail(f"it names subject {export['subject']!r} and its ledger is {subject!r}'s")
    receipts = export.get("receipts", [])
    signed_docs = sum(e["kind"]["type"] in ("statement_delivered", "access_restored") for e in export["events"])
    if (receipts or signed_docs) and not keys:
        print(
            f"the export carries {len(receipts)} signed receipt(s) and {signed_docs} signed document(s): "
            "pass --server-key to check them",
            file=sys.stderr,
        )
        return 2
    if check_receipts(export, keys):
        return 1
    if check_documents(export, keys):
        return 1
    acked = {a["seq"] for r in receipts for a in r["body"]["acknowledged"]}
    kinds = ", ".join(e["kind"]["type"] for e in export["events"])
    print(
        f"export verified independently: {len(export['events'])} events, head {prev[:12]}, "
        f"{len(receipts)} signed receipt(s) covering {len(acked)} ({kinds})"
    )
    unproven = len(export["events"]) - len(acked)
    if unproven:
        print(f"{unproven} event(s) are proven by the chain alone: no receipt covers them yet")
    return 0


def is_utc_time(text):
    if not isinstance(text, str):
        return False
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text


def fail(message):
    print(f"export NOT verified: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Verify an Altyn Consent export independently.")
    parser.add_argument("export")
    parser.add_argument("--server-key", action="append", default=[], help="trusted receipt key, 64 hex digits (repeatable)")
    args = parser.parse_args()
    try:
        keys = [bytes.fromhex(k.strip()) for k in args.server_key]
    except ValueError:
        parser.error("a server key is 64 hex digits")
    if any(len(k) != 32 for k in keys):
        parser.error("a server key is 64 hex digits")
    try:
        code = main(args.export, keys)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        # A malformed export is a failed verification, said in one line.
        code = fail(f"the export is malformed ({type(e).__name__}: {e})")
    sys.exit(code)
