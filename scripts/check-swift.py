#!/usr/bin/env python3
"""Parse-checks Swift files with tree-sitter-swift (no Swift compiler on our
machines). Fails, naming file, line and column, on any syntax error or
missing node. Usage: check-swift.py FILE_OR_DIR...

tree-sitter-swift 0.7.4 (the newest on PyPI) does not know three constructs
that UniFFI's generated Swift uses and that Swift accepts. Before parsing,
exactly these texts are rewritten to something the grammar knows (the same
meaning for the first two, the same syntax less an attribute for the third;
the first and third keep their length, so positions stay right); the count
is printed, and anything else that fails to parse fails the check.
"""
import pathlib
import sys

import tree_sitter_swift
from tree_sitter import Language, Parser


KNOWN_GRAMMAR_GAPS = [
    # Swift 5.8 attribute hiding helpers from DocC.
    (b"@_documentation(visibility: private)", b" " * len(b"@_documentation(visibility: private)")),
    # A closure returning the empty tuple.
    (b"{ () }", b"{ Void() }"),
    # SE-0412 on a local constant, as uniffi-rs's Swift 6 fix for async
    # foreign traits writes it (applied by ios/tools/backport_uniffi_sendable.py
    # to the copy in ios/Sources/AltynConsent/Generated).
    (b"nonisolated(unsafe) let ", b" " * len(b"nonisolated(unsafe) ") + b"let "),
]


def problems(node, out):
    if node.is_error or node.is_missing:
        out.append(node)
        return
    if node.has_error:
        for child in node.children:
            problems(child, out)


def main(args):
    parser = Parser(Language(tree_sitter_swift.language()))
    files = []
    for arg in args:
        p = pathlib.Path(arg)
        files += sorted(p.rglob("*.swift")) if p.is_dir() else [p]
    if not files:
        print("check-swift: no Swift files given", file=sys.stderr)
        return 2
    failed = 0
    rewritten = 0
    for f in files:
        source = f.read_bytes()
        for gap, equivalent in KNOWN_GRAMMAR_GAPS:
            rewritten += source.count(gap)
            source = source.replace(gap, equivalent)
        tree = parser.parse(source)
        found = []
        problems(tree.root_node, found)
        for node in found:
            line, col = node.start_point
            kind = "missing " + node.type if node.is_missing else "syntax error"
            text = node.text.decode("utf-8", "replace").splitlines()[0][:60] if node.text else ""
            print(f"{f}:{line + 1}:{col + 1}: {kind} near {text!r}", file=sys.stderr)
        failed += bool(found)
    print(f"check-swift: {len(files)} files parsed, {failed} with errors "
          f"({rewritten} known grammar gaps rewritten first)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
