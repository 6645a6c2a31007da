#!/usr/bin/env bash
# A local Citus cluster for tests and measurements: a coordinator and two
# workers (PostgreSQL 15 with Citus 13.2), each its own cluster under one
# temporary directory, on loopback.
#
#   bash deploy/citus/cluster.sh start DIR [BASE_PORT]   # prints DATABASE_URL of the coordinator
#   bash deploy/citus/cluster.sh createdb DIR NAME [BASE_PORT]  # on every node, workers registered
#   bash deploy/citus/cluster.sh install        # only make sure Citus is installed
#   bash deploy/citus/cluster.sh stop DIR
#
# Uses an installed Citus (citus.so in PostgreSQL's lib directory) when there
# is one. Otherwise it builds the release kept in ../shared/deps/
# (citus-13.2.2.tar.gz, with citus-13.2.2-pg15.20.patch for PostgreSQL 15.20's
# headers), in a cache outside the clone ($XDG_CACHE_HOME or ~/.cache,
# s3-star-loader/citus-13.2.2), and installs it; a second run does not
# rebuild. Needs postgresql-server-dev-15 (installed here when missing, as
# root). Nodes trust local connections: for tests only.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:?usage: cluster.sh install|start|createdb|stop ...}
dir=${2:-}
if [ "$cmd" = createdb ]; then base=${4:-55432}; else base=${3:-55432}; fi
pg_bin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$pg_bin" ] || { echo "PostgreSQL 15's server binaries are not installed (apt-get install postgresql-15)" >&2; exit 1; }
run_as=()
[ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)

ensure_citus() {
    local libdir
    libdir=$("$pg_bin/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)
    [ -f "$libdir/citus.so" ] && return 0
    if [ ! -x /usr/lib/postgresql/15/bin/pg_config ] || [ ! -d /usr/include/postgresql/15/server ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-server-dev-15 \
            liblz4-dev libzstd-dev libkrb5-dev libcurl4-openssl-dev >/dev/null
    fi
    local deps="$here/../shared/deps" cache="${XDG_CACHE_HOME:-$HOME/.cache}/s3-star-loader"
    [ -f "$deps/citus-13.2.2.tar.gz" ] || { echo "no Citus installed and no source in $deps" >&2; exit 1; }
    mkdir -p "$cache"
    if [ ! -f "$cache/citus-13.2.2/src/backend/distributed/citus.so" ]; then
        echo "building Citus 13.2.2 in $cache (5-10 minutes on 2 cores)" >&2
        rm -rf "$cache/citus-13.2.2"
        tar xzf "$deps/citus-13.2.2.tar.gz" -C "$cache"
        (cd "$cache/citus-13.2.2" &&
            if "$pg_bin/pg_config" --version | grep -q '15\.2[0-9]'; then
                patch -p1 <"$deps/citus-13.2.2-pg15.20.patch" >/dev/null
            fi &&
            PG_CONFIG="$pg_bin/pg_config" ./configure --without-libcurl >/dev/null &&
            make -j2 >/dev/null)
    fi
    (cd "$cache/citus-13.2.2" && make install PG_CONFIG="$pg_bin/pg_config" >/dev/null)
}

node() { # node N -> port
    echo $((base + $1))
}

start() {
    [ -n "$dir" ] || { echo "usage: cluster.sh start DIR [BASE_PORT]" >&2; exit 2; }
    ensure_citus
    mkdir -p "$dir"
    chmod 777 "$dir"
    for n in 0 1 2; do
        local data="$dir/node$n" port
        port=$(node $n)
        if [ ! -d "$data" ]; then
            "${run_as[@]}" "$pg_bin/initdb" -D "$data" -U postgres -A trust >/dev/null
            cat >>"$data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
max_connections = 200
max_prepared_transactions = 200
wal_level = logical
fsync = off
EOF
        fi
        "${run_as[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$dir/node$n.log" -w start >/dev/null
        psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Xqc "CREATE EXTENSION IF NOT EXISTS citus" >/dev/null
    done
    local coordinator
    coordinator=$(node 0)
    psql -h 127.0.0.1 -p "$coordinator" -U postgres -d postgres -Xq >/dev/null <<EOF
SELECT citus_set_coordinator_host('127.0.0.1', $coordinator);
SELECT citus_add_node('127.0.0.1', $(node 1)) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = $(node 1));
SELECT citus_add_node('127.0.0.1', $(node 2)) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = $(node 2));
EOF
    echo "postgres://postgres@127.0.0.1:$coordinator/postgres"
}

createdb() {
    local name=${1:?database name} coordinator
    coordinator=$(node 0)
    for n in 0 1 2; do
        psql -h 127.0.0.1 -p "$(node $n)" -U postgres -d postgres -Xq -v name="$name" \
            <<<'CREATE DATABASE :"name"' >/dev/null
        psql -h 127.0.0.1 -p "$(node $n)" -U postgres -d "$name" -Xqc "CREATE EXTENSION citus" >/dev/null
    done
    psql -h 127.0.0.1 -p "$coordinator" -U postgres -d "$name" -Xq >/dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $coordinator);
SELECT citus_add_node('127.0.0.1', $(node 1));
SELECT citus_add_node('127.0.0.1', $(node 2));
SQL
    echo "postgres://postgres@127.0.0.1:$coordinator/$name"
}

stop() {
    for n in 0 1 2; do
        [ -d "$dir/node$n" ] && "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/node$n" -m fast -w stop >/dev/null 2>&1 || true
    done
}

case "$cmd" in
    install) ensure_citus ;;
    start) start ;;
    createdb) createdb "${3:?usage: cluster.sh createdb DIR NAME [BASE_PORT]}" ;;
    stop) stop ;;
    *) echo "usage: cluster.sh start|stop DIR [BASE_PORT]" >&2; exit 2 ;;
esac
