#!/usr/bin/env bash
# Coverage-guided fuzzing of the core's parsers (cargo-fuzz, libFuzzer).
#
#   scripts/fuzz.sh [SECONDS]     (default 20 seconds per target)
#
# Builds every target in core/fuzz, replays each saved crash in
# core/fuzz/regressions/<target>/, then fuzzes each target for SECONDS,
# one at a time with one worker, starting from the committed corpus in
# core/fuzz/corpus/<target>/. That folder is only read: new inputs go to a
# temporary folder that is removed at the end. Crashing inputs are written
# to core/fuzz/artifacts/<target>/ (ignored by git).
#
# Needs a nightly toolchain; without one it prints a single line and exits
# 0. Installs cargo-fuzz if it is missing. Exits non-zero if any target
# crashes (a saved regression still crashing included).
#
# On a shared machine: CARGO_BUILD_JOBS=1 nice -n 19 scripts/fuzz.sh
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]" >&2
    exit 2
fi

# No pipe into `grep -q` here: with pipefail, grep closing the pipe early
# could fail the whole test while nightly is in fact there.
toolchains="$(rustup toolchain list 2>/dev/null || true)"
if ! grep -q '^nightly' <<<"$toolchains"; then
    echo "fuzz: skipped (no nightly toolchain)"
    exit 0
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/core/fuzz"
cd "$fuzz_dir"

# Inputs the size of the bundled policy (about 60 KB) and larger, for the
# targets that read a whole policy text; the others keep libFuzzer's default.
max_len_for() {
    case "$1" in
        policy_document | signed_policy | export_verifier) echo "-max_len=262144" ;;
        *) ;;
    esac
}

work="$(mktemp -d "${TMPDIR:-/tmp}/altyn-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

start_all=$(date +%s)
# Build once, then run those binaries: `cargo fuzz run` would rebuild before
# each target if a source changed meanwhile (a shared work tree), so targets
# could run different code and the timings would include builds.
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-$fuzz_dir/target}"
cargo +nightly fuzz build --target "$triple" --target-dir "$target_dir"
bin_dir="$target_dir/$triple/release"
mapfile -t targets < <(cargo +nightly fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz: no targets found in $fuzz_dir" >&2
    exit 1
fi
# What `cargo fuzz run` sets.
export ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

failed=0
summary=()

# Saved crashes first: each must now run clean.
for target in "${targets[@]}"; do
    dir="$fuzz_dir/regressions/$target"
    [ -d "$dir" ] || continue
    mapfile -t files < <(find "$dir" -type f ! -name '.*' ! -name '*.md' | sort)
    [ "${#files[@]}" -gt 0 ] || continue
    # Given files rather than folders, libFuzzer runs each once, whole.
    if "$bin_dir/$target" -runs=1 "${files[@]}" \
        >"$work/$target.regressions.log" 2>&1; then
        echo "fuzz $target: ${#files[@]} saved regression(s) pass" >&2
    else
        echo "fuzz $target: a saved regression in ${dir#"$root"/} still fails:" >&2
        tail -n 40 "$work/$target.regressions.log" >&2
        summary+=("fuzz $target: saved regression(s) FAIL")
        failed=1
    fi
done

for target in "${targets[@]}"; do
    seeds="$fuzz_dir/corpus/$target"
    mkdir -p "$work/corpus/$target" "$fuzz_dir/artifacts/$target"
    seed_args=()
    [ -d "$seeds" ] && seed_args=("$seeds")
    log="$work/$target.log"
    t0=$(date +%s)
    status=0
    # The first folder receives new inputs; the committed one is only read.
    # shellcheck disable=SC2046
    "$bin_dir/$target" -artifact_prefix="$fuzz_dir/artifacts/$target/" \
        -max_total_time="$seconds" -print_final_stats=1 $(max_len_for "$target") \
        "$work/corpus/$target" "${seed_args[@]}" >"$log" 2>&1 || status=$?
    t1=$(date +%s)
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [ -z "$execs" ]; then
        execs="$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')"
    fi
    if [ "$status" -eq 0 ]; then
        summary+=("fuzz $target: ${execs:-?} execs in $((t1 - t0)) s, ok")
    else
        echo "fuzz $target: CRASHED (exit $status); last lines of its log:" >&2
        tail -n 60 "$log" >&2
        summary+=("fuzz $target: ${execs:-?} execs in $((t1 - t0)) s, CRASHED (input in core/fuzz/artifacts/$target/)")
        failed=1
    fi
done

echo "fuzz: all targets done in $(($(date +%s) - start_all)) s (build included)" >&2
printf '%s\n' "${summary[@]}"
exit "$failed"
