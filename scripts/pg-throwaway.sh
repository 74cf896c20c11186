#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the server's tests and benchmarks:
# Debian's PostgreSQL (installed with apt-get when missing and this runs as
# root), a new cluster in a temporary folder, run by an unprivileged user
# (`nobody` when this runs as root), listening on a free loopback port only,
# its one user `altyn` with a random password (SCRAM), which the printed URL
# carries: another local user cannot connect to it.
#
#   eval "$(scripts/pg-throwaway.sh start)"   # sets ALTYN_PG_DIR, ALTYN_PG_URL
#   ALTYN_TEST_DATABASE_URL="$ALTYN_PG_URL" cargo test -p altyn-consent-server
#   scripts/pg-throwaway.sh stop "$ALTYN_PG_DIR"   # stops it and removes the folder
#
# The cluster keeps PostgreSQL's durable defaults (fsync on): the load
# benchmark measures it as it would run.
set -euo pipefail

bin_dir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    fi
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    bin="$(bin_dir || true)"
    if [ -z "$bin" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "pg-throwaway: installing Debian's postgresql" >&2
            export DEBIAN_FRONTEND=noninteractive
            # No system-wide "main" cluster left running on port 5432.
            mkdir -p /etc/postgresql-common/createcluster.d
            [ -e /etc/postgresql-common/createcluster.d/altyn-no-main.conf ] ||
                echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/altyn-no-main.conf
            apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 ||
                { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
            bin="$(bin_dir)"
        else
            echo "pg-throwaway: PostgreSQL is not installed (apt-get install postgresql)" >&2
            exit 1
        fi
    fi
    dir="$(mktemp -d "${TMPDIR:-/tmp}/altyn-pg.XXXXXX")"
    chmod 0755 "$dir"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    (umask 077 && echo "$password" >"$dir/pwfile")
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir/pwfile"
    as_owner "$bin/initdb" -D "$dir/data" -U altyn --auth=scram-sha-256 --pwfile="$dir/pwfile" \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    rm -f "$dir/pwfile"
    mkdir -p "$dir/socket"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir/socket"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k '$dir/socket' -c max_connections=200" \
        start >/dev/null ||
        { cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1; }
    echo "pg-throwaway: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, cluster in $dir" >&2
    echo "export ALTYN_PG_DIR='$dir' ALTYN_PG_URL='postgres://altyn:$password@127.0.0.1:$port/postgres'"
    ;;
stop)
    dir="${2:?usage: pg-throwaway.sh stop DIR}"
    case "$dir" in */altyn-pg.*) ;; *) echo "pg-throwaway: $dir is not a throw-away cluster" >&2; exit 1 ;; esac
    bin="$(bin_dir)"
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg-throwaway.sh start | stop DIR" >&2
    exit 2
    ;;
esac
