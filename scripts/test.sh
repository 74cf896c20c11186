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

# Installs Debian packages when a tool is missing (CI runs as root on a
# fresh machine); elsewhere it says what to install.
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$sudo" ] || $sudo true 2>/dev/null; }; then
    $sudo apt-get install -y -q "$@" >/dev/null 2>&1 || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "$@" >/dev/null; }
  else
    echo "missing packages: $* (install them)"; exit 1
  fi
}
command -v mvn >/dev/null && command -v javac >/dev/null || apt_install maven openjdk-17-jdk-headless
command -v clang >/dev/null || apt_install clang
# tree-sitter-swift parses the Swift files; cryptography gives the
# independent export verifier Ed25519 for the server's receipts.
python_tools=(tree-sitter==0.26.1 tree-sitter-swift==0.7.4 "cryptography>=42")
python3 -c 'import tree_sitter, tree_sitter_swift, cryptography' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check "${python_tools[@]}" ||
  python3 -m pip install -q --disable-pip-version-check --user --break-system-packages "${python_tools[@]}"
mvn -v | sed -n 1p

step "format"
cargo fmt --all -- --check

step "lint"
# --all-targets includes the benchmarks: the server's dev-dependency turns on
# the core's bench-support feature they need.
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependencies: licences, duplicate versions, sources (cargo deny)"
# Advisories need the RustSec database from GitHub, which these machines
# cannot reach: see deny.toml.
command -v cargo-deny >/dev/null || cargo install -q --locked cargo-deny@0.20.2
# cargo deny reads the metadata of every platform's crates (windows-sys
# too), which a build for this machine never downloads: fetch them first.
cargo fetch --locked -q
cargo deny --offline check bans licenses sources 2>&1 | tail -n 1

step "tests"
test_log=$(mktemp)
cargo test --workspace --locked 2>&1 | tee "$test_log"
# One total over every test binary, for the closing line.
read -r passed failed < <(awk '/^test result: /{ for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$test_log")
rm -f "$test_log"

step "the server's tests again, on PostgreSQL (a throw-away cluster), and two servers on one database"
# Debian's PostgreSQL, a new cluster in a temporary folder run by an
# unprivileged user on a loopback port; removed afterwards, also on failure.
pg_env=$(scripts/pg-throwaway.sh start) || { echo "could not start a throw-away PostgreSQL"; exit 1; }
eval "$pg_env"
trap 'scripts/pg-throwaway.sh stop "$ALTYN_PG_DIR"' EXIT
pg_log=$(mktemp)
ALTYN_TEST_DATABASE_URL="$ALTYN_PG_URL" cargo test -p altyn-consent-server --locked --tests 2>&1 | tee "$pg_log"
ALTYN_TEST_DATABASE_URL="$ALTYN_PG_URL" cargo test -p altyn-consent-server --locked --test multi_server -- --ignored 2>&1 | tee -a "$pg_log"
read -r pg_passed pg_failed < <(awk '/^test result: /{ for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$pg_log")
rm -f "$pg_log"
scripts/pg-throwaway.sh stop "$ALTYN_PG_DIR"
trap - EXIT
echo "PostgreSQL: $pg_passed passed, $pg_failed failed"
passed=$((passed + pg_passed))
failed=$((failed + pg_failed))

step "demo (the README's first command, unattended)"
demo_out=$(mktemp)
cargo run -q --locked -p altyn-consent-cli -- demo --yes >"$demo_out"
tail -n 6 "$demo_out"
grep -q "verified independently of the store" "$demo_out"
passed=$((passed + 1))

step "exports checked by an independent verifier (Python, no shared code), receipts included"
work=$(mktemp -d)
cli=target/debug/altyn-consent
args=(--data-dir "$work/data" --key-store file --key-dir "$work/keys")
# Reads before the first start create nothing.
"$cli" "${args[@]}" status >/dev/null
[ ! -e "$work/data" ] || { echo "a read created the store's folder"; exit 1; }
"$cli" "${args[@]}" accept --age-confirmed >/dev/null
"$cli" "${args[@]}" permission grant camera >/dev/null
"$cli" "${args[@]}" permission deny contacts >/dev/null
"$cli" "${args[@]}" os-status camera granted >/dev/null
"$cli" "${args[@]}" permission withdraw camera >/dev/null
"$cli" "${args[@]}" export --out "$work/export.json" 2>/dev/null
python3 scripts/verify-export.py "$work/export.json"
passed=$((passed + 1))
sed 's/"decision": "granted"/"decision": "denied"/' "$work/export.json" >"$work/tampered.json"
if python3 scripts/verify-export.py "$work/tampered.json" 2>/dev/null; then
  echo "the independent verifier accepted a tampered export"; exit 1
fi
passed=$((passed + 1))
# Synced: the export carries the server's signed receipt, and forgeries that
# keep the chain consistent (made as someone with the store's key would)
# fail both verifiers on the receipt.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$cli" serve --listen "127.0.0.1:$port" --server-data-dir "$work/srv" >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 200); do
  [ -f "$work/srv/receipt-key.pub" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$cli" "${args[@]}" sync --server "https://127.0.0.1:$port/" --server-data-dir "$work/srv" >/dev/null
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
key=$(cat "$work/srv/receipt-key.pub")
"$cli" "${args[@]}" verify --server-data-dir "$work/srv"
"$cli" "${args[@]}" export --out "$work/synced.json" 2>/dev/null
python3 scripts/verify-export.py "$work/synced.json" --server-key "$key"
"$cli" verify --export "$work/synced.json" --server-key "$key"
passed=$((passed + 1))
set +e
python3 scripts/verify-export.py "$work/synced.json" 2>/dev/null; [ $? = 2 ] || { echo "receipts were not checked without a key"; exit 1; }
set -e
python3 scripts/forge-export.py "$work/synced.json" "$work"
for forged in removed-last rewritten; do
  if python3 scripts/verify-export.py "$work/$forged.json" --server-key "$key" 2>"$work/why"; then
    echo "the independent verifier accepted the forgery $forged"; exit 1
  fi
  grep -qE "receipt #[0-9]+ " "$work/why" || { cat "$work/why"; echo "the forgery $forged was not caught by the receipt"; exit 1; }
  set +e
  "$cli" verify --export "$work/$forged.json" --server-key "$key" 2>/dev/null; code=$?
  set -e
  [ "$code" = 5 ] || { echo "verify --export accepted the forgery $forged (exit $code)"; exit 1; }
  echo "forgery $forged: refused by both verifiers ($(cat "$work/why"))"
  passed=$((passed + 1))
done
rm -rf "$work" "$demo_out"

step "the README's terminal walkthrough, line by line, with a fresh HOME"
scripts/readme-walkthrough.sh "$cli" | tail -n 1
passed=$((passed + 1))

step "fuzzing: each target briefly against its committed corpus (nightly toolchain)"
fuzz_log=$(mktemp)
scripts/fuzz.sh "${ALTYN_FUZZ_SECONDS:-20}" | tee "$fuzz_log"
passed=$((passed + $(grep -c '^fuzz [a-z_]*: .*, ok$' "$fuzz_log" || true)))
rm -f "$fuzz_log"

step "bindings: generate Kotlin and Swift from the library (UniFFI library mode)"
cargo build -q --locked -p altyn-consent-server
lib=$(scripts/gen-bindings.sh)
echo "generated from $lib: $(find target/bindings -type f | wc -l) files"

step "Kotlin shell on the JVM (Maven: bindings + shell + Android sources; JUnit against the real server)"
rm -rf android/target/surefire-reports
mvn_log=$(mktemp)
if ! mvn -B -q -f android/pom.xml verify >"$mvn_log" 2>&1; then
  cat "$mvn_log"
fi
read -r k_run k_failed < <(cat android/target/surefire-reports/*.txt 2>/dev/null |
  awk -F'[:,]' '/^Tests run:/{ r += $2; f += $4 + $6 } END { print r + 0, f + 0 }')
rm -f "$mvn_log"
echo "Kotlin: ${k_run} tests run, ${k_failed} failed or errored"
[ "$k_run" -gt 0 ] || { echo "no Kotlin test ran"; failed=$((failed + 1)); }
passed=$((passed + k_run - k_failed))
failed=$((failed + k_failed))

step "Swift shell: parse-check every Swift file (tree-sitter-swift), compile and link the C header"
python3 scripts/check-swift.py ios target/bindings/swift
passed=$((passed + 1))
bad=$(mktemp --suffix=.swift)
printf 'public func broken( {\n' >"$bad"
if python3 scripts/check-swift.py "$bad" 2>/dev/null; then
  echo "the Swift parse check accepted a broken file"; exit 1
fi
rm -f "$bad"
passed=$((passed + 1))
for header in AltynConsentFFI.h AltynConsentCoreFFI.h; do
  scripts/check-c-header.sh "target/bindings/swift/$header" "$lib"
  passed=$((passed + 1))
done

step "Swift package: built by Swift 6 (strict concurrency) and its XCTests run on Linux, in a Debian trixie chroot"
if [ "$(id -u)" = 0 ]; then
  swift_log=$(mktemp)
  scripts/swift-test.sh 2>&1 | tee "$swift_log" | grep -E '^(swift:|Test Suite .All tests|error:|.*: error:)' || true
  read -r s_passed s_failed < <(sed -n 's/^swift: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$swift_log" | tail -n 1)
  if [ -z "${s_passed:-}" ]; then
    tail -n 30 "$swift_log"; echo "the Swift tests did not report"; failed=$((failed + 1))
  else
    passed=$((passed + s_passed)); failed=$((failed + s_failed))
  fi
  rm -f "$swift_log"
else
  echo "swift: skipped (the chroot needs root; run scripts/swift-test.sh as root)"
fi

printf '\nscripts/test.sh: done in %ss (cargo tests, the server tests again on PostgreSQL, the demo, 5 export checks, the README walkthrough, fuzz targets, Kotlin JUnit, Swift XCTest, 4 Swift/C checks)\n' "$(( $(date +%s) - start ))"
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
