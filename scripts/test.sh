#!/usr/bin/env bash
# Everything CI runs, in the order a developer would: format, lint, tests,
# the demo, and an independent check of an export. Installs what it needs.
# Usage: scripts/test.sh        (CI runs it as `bash .ci/run` with CI=true)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }
start=$(date +%s)

step "toolchain"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
cargo --version
# The vendored OpenSSL of SQLCipher builds with a C compiler, make and perl.
for tool in cc make perl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install it (apt-get install build-essential perl python3)"; exit 1; }
done

step "format"
cargo fmt --all -- --check

step "lint"
# --all-targets includes the benchmarks: the server's dev-dependency turns on
# the core's bench-support feature they need.
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
test_log=$(mktemp)
cargo test --workspace --locked 2>&1 | tee "$test_log"
# One total over every test binary, for the closing line.
read -r passed failed < <(awk '/^test result: /{ for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$test_log")
rm -f "$test_log"

step "demo (the README's first command, unattended)"
demo_out=$(mktemp)
cargo run -q --locked -p altyn-consent-cli -- demo --yes >"$demo_out"
tail -n 6 "$demo_out"
grep -q "verified independently of the store" "$demo_out"
passed=$((passed + 1))

step "an export checked by an independent verifier (Python, no shared code)"
work=$(mktemp -d)
cli=target/debug/altyn-consent
args=(--data-dir "$work/data" --key-store file --key-dir "$work/keys")
"$cli" "${args[@]}" accept --age-confirmed >/dev/null
"$cli" "${args[@]}" permission grant camera >/dev/null
"$cli" "${args[@]}" os-status camera granted >/dev/null
"$cli" "${args[@]}" permission withdraw camera >/dev/null
"$cli" "${args[@]}" export --out "$work/export.json" 2>/dev/null
python3 scripts/verify-export.py "$work/export.json"
passed=$((passed + 1))
sed 's/"decision": "granted"/"decision": "denied"/' "$work/export.json" >"$work/tampered.json"
if python3 scripts/verify-export.py "$work/tampered.json"; then
  echo "the independent verifier accepted a tampered export"; exit 1
fi
passed=$((passed + 1))
rm -rf "$work" "$demo_out"

printf '\nscripts/test.sh: everything passed in %ss (cargo tests, the demo, 2 export checks)\n' "$(( $(date +%s) - start ))"
echo "tests: ${passed} passed, ${failed} failed"
