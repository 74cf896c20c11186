#!/usr/bin/env python3
"""Backports uniffi-rs's fix for Swift 6 strict concurrency in async foreign
traits (mozilla/uniffi-rs#2929, merged after the uniffi 0.32.2 this
repository uses) to a copy of the generated AltynConsent.swift.

Without it, Swift 6.0.3 (Debian trixie's swiftlang) crashes in the
TransferNonSendable pass on `uniffiTraitInterfaceCallAsyncWithError` (the
compiler bug swiftlang/swift#78439), and newer compilers refuse the same
code with "passing closure as a 'sending' parameter risks causing data races".
The generated code is used by the `HttpClient` foreign trait's async `send`.

What it changes, exactly as upstream does:
- the closures the async trait helpers take are `@Sendable`;
- each vtable closure of an async method types `makeCall`,
  `uniffiHandleSuccess` and `uniffiHandleError` as `@Sendable`, and rebinds
  its `RustBuffer` arguments as `nonisolated(unsafe)` (a RustBuffer holds a
  pointer, so it is not Sendable; Rust hands it to this one call, which
  reads it once).

Idempotent: code that is already fixed (a newer uniffi) is left alone. Fails
if the file has async foreign-trait helpers in a shape it does not know.

Usage: backport_uniffi_sendable.py ios/Sources/AltynConsent/Generated/AltynConsent.swift
"""
import re
import sys

HELPERS = ("uniffiTraitInterfaceCallAsync<T>(", "uniffiTraitInterfaceCallAsyncWithError<T, E>(")


def backport(source):
    changes = 0
    for name in HELPERS:
        at = source.find("private func " + name)
        if at < 0:
            continue
        end = source.index(") {", at)
        signature = source[at:end]
        fixed = (signature
                 .replace("makeCall: @escaping () async", "makeCall: @escaping @Sendable () async")
                 .replace("handleSuccess: @escaping (T)", "handleSuccess: @escaping @Sendable (T)")
                 .replace("handleError: @escaping (Int8", "handleError: @escaping @Sendable (Int8")
                 .replace("lowerError: @escaping (E)", "lowerError: @escaping @Sendable (E)"))
        if "@escaping (" in fixed:
            raise SystemExit(f"backport: unknown signature of {name}: {fixed!r}")
        changes += fixed != signature
        source = source[:at] + fixed + source[end:]

    # The vtable closure of each async trait method.
    closure = re.compile(
        r"\{ \(\n(?P<params>(?:            [^\n]+\n)+?)        \) in\n"
        r"            let makeCall = \{\n"
        r"                \(\) async throws -> (?P<ret>[^\n]+) in\n")

    def fix(m):
        buffers = re.findall(r"^            (\w+): RustBuffer,?$", m.group("params"), re.M)
        rebinds = "".join(f"            nonisolated(unsafe) let {b} = {b}\n" for b in buffers)
        return (m.group(0)[: m.start("params") - m.start(0)] + m.group("params") + "        ) in\n" + rebinds
                + f"            let makeCall: @Sendable () async throws -> {m.group('ret')} = {{\n"
                + f"                () async throws -> {m.group('ret')} in\n")

    source, n = closure.subn(fix, source)
    changes += n
    source, n = re.subn(r"let uniffiHandleSuccess = \{ \(returnValue: ([^)]+)\) in",
                        r"let uniffiHandleSuccess: @Sendable (\1) -> () = { (returnValue) in", source)
    changes += n
    source, n = re.subn(r"let uniffiHandleError = \{ \(statusCode, errorBuf\) in",
                        r"let uniffiHandleError: @Sendable (Int8, RustBuffer) -> () = { (statusCode, errorBuf) in", source)
    changes += n
    # Synchronous trait methods keep their plain `makeCall` (not sent anywhere).
    if re.search(r"let makeCall = \{\n +\(\) async|let (uniffiHandleSuccess|uniffiHandleError) = \{", source):
        raise SystemExit("backport: an async trait closure of an unknown shape is left unfixed")
    return source, changes


def main(path):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    fixed, changes = backport(source)
    if fixed != source:
        with open(path, "w", encoding="utf-8") as f:
            f.write(fixed)
    print(f"backport (uniffi-rs#2929): {changes} change(s) to {path}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
