#!/usr/bin/env bash
# Runs the README's terminal walkthrough ("Using the terminal shell") line by
# line, as a new user would on a fresh machine: a fresh HOME, no
# ALTYN_*/XDG_* settings, the CLI's defaults (key file in ~/.config, store in
# ~/.local/share). The backend the walkthrough talks to is started as the
# README says, in the background; /tmp/srv and /tmp/new-phone become
# temporary folders and port 8443 a free one. Every line must succeed.
# Usage: scripts/readme-walkthrough.sh [path/to/altyn-consent]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/altyn-consent}")
work=$(mktemp -d)
home="$work/home"
mkdir -p "$home"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
# The server ends by SIGTERM, so `wait` returns 143: that status must not
# become the script's own (under `set -e` the trap's last failing command
# would be), so it is ignored here and the script keeps its own.
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The commands of the walkthrough's code block, in order.
mapfile -t lines < <(awk '/^## Using the terminal shell/{on=1} on && /^```sh/{block=1; next} block && /^```/{exit} block' README.md)
[ "${#lines[@]}" -gt 5 ] || { echo "the README walkthrough was not found"; exit 1; }

ran=0
for line in "${lines[@]}"; do
  line=${line%%#*}                      # comments
  line=$(echo "$line" | sed -e 's/[[:space:]]*$//')
  [ -n "$line" ] || continue
  case "$line" in alias*) continue ;; esac
  line=${line//\/tmp\/srv/$work\/srv}
  line=${line//\/tmp\/new-phone/$work\/new-phone}
  line=${line//8443/$port}
  line=${line//scripts\//$PWD\/scripts\/}
  # The backend runs in "another terminal": start it before the first line
  # that needs it.
  if [ -z "$server_pid" ] && [[ "$line" == *"--server "* ]]; then
    env -i PATH="$PATH" HOME="$home" "$bin" serve --listen "127.0.0.1:$port" --server-data-dir "$work/srv" >"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do
      [ -f "$work/srv/policy-key.pub" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
  fi
  cmd=$(printf '%s' "$line" | BIN="$bin" perl -pe 's/(^|&& )ac /$1"$ENV{BIN}" /g')
  echo "\$ ${line}"
  if ! (cd "$work" && env -i PATH="$PATH" HOME="$home" bash -c "$cmd" >"$work/out.log" 2>&1 </dev/null); then
    cat "$work/out.log"
    echo "README walkthrough: FAILED at: $line"
    exit 1
  fi
  ran=$((ran + 1))
done
echo "README walkthrough: ${ran} commands passed with a fresh HOME and the defaults"
