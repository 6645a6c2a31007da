#!/usr/bin/env bash
# Installs the peers `e2e --peers` measures the loader against; safe to run again.
#
#   bash benches/peers/setup.sh            (as root, or with sudo for apt-get)
#
# - pgloader and rsvg-convert (to look at the chart) from Debian's packages;
# - psycopg 3, DuckDB 1.5.x with its postgres extension, and Sling, from PyPI, into a
#   virtualenv at bench-out/peers/venv (PEERS_VENV overrides), which `e2e` looks for;
# - DuckDB's postgres extension copied from its wheel to where DuckDB loads extensions from
#   (~/.duckdb/extensions/<version>/<platform>/postgres_scanner.duckdb_extension), so
#   `LOAD postgres` works offline.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${PEERS_VENV:-$root/bench-out/peers/venv}

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v pgloader >/dev/null || missing+=(pgloader)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
    'psycopg[binary]>=3.2,<4' 'duckdb>=1.5,<1.6' 'duckdb-extension-postgres' \
    'sling' 'sling-linux-amd64'

# DuckDB's postgres extension: the wheel ships the file; DuckDB looks for it by the name
# postgres_scanner under its own version and platform.
"$venv/bin/python" - <<'PY'
import glob, os, shutil, sys
import duckdb
import duckdb_extension_postgres as ext_pkg

pkg_dir = os.path.dirname(ext_pkg.__file__)
found = [p for p in glob.glob(os.path.join(pkg_dir, "**", "*.duckdb_extension*"), recursive=True)]
if not found:
    sys.exit(f"no .duckdb_extension file under {pkg_dir}")
con = duckdb.connect()
version = con.execute("PRAGMA version").fetchone()[0]
platform = con.execute("PRAGMA platform").fetchone()[0]
dest_dir = os.path.expanduser(f"~/.duckdb/extensions/{version}/{platform}")
os.makedirs(dest_dir, exist_ok=True)
dest = os.path.join(dest_dir, "postgres_scanner.duckdb_extension")
shutil.copyfile(found[0], dest)
con.execute("LOAD postgres")
print(f"duckdb {version} {platform}: {found[0]} -> {dest}, LOAD postgres ok")
PY

sling=$("$venv/bin/python" -c 'import glob, os, sling_linux_amd64 as s; d=os.path.dirname(s.__file__); print(next(p for p in glob.glob(d + "/**/sling*", recursive=True) if os.path.isfile(p) and os.access(p, os.X_OK)))')
echo "sling binary: $sling ($("$sling" --version 2>/dev/null | sed -n 1p))"
echo "pgloader: $(pgloader --version 2>/dev/null | sed -n 1p)"
echo "psycopg: $("$venv/bin/python" -c 'import psycopg; print(psycopg.__version__)')"
echo "peers installed; e2e finds the virtualenv at $venv"
