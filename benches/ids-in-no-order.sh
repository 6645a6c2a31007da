#!/usr/bin/env bash
# What transaction ids in no order (UUIDs, hashes) cost a load, side by side
# with the same rows' own ids: FILE's copy with every transaction_id replaced
# by a UUID-shaped hash of it (the same rows, ids in no order), then ROUNDS
# alternating loads of each by the release loader, every one into a fresh
# database (BENCHMARKS.md, "Transaction ids in no order"). Prints seconds.
#   bash benches/ids-in-no-order.sh /tmp/g1m/part-00001.csv 3
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: benches/ids-in-no-order.sh FILE.csv [ROUNDS]}
rounds=${2:-3}
pg=(psql -U postgres -h 127.0.0.1 -q -v ON_ERROR_STOP=1)
work=$(mktemp -d)
db=ids_in_no_order_$$
trap '"${pg[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db"; rm -rf "$work"' EXIT
hashed=$work/hashed-ids.csv
python3 - "$file" "$hashed" <<'PY'
import hashlib, sys
with open(sys.argv[1], 'rb') as src, open(sys.argv[2], 'wb') as out:
    out.write(src.readline())
    for line in src:
        cut = line.index(b',')
        h = hashlib.md5(line[:cut]).hexdigest().encode()
        out.write(b'-'.join([h[:8], h[8:12], h[12:16], h[16:20], h[20:]]) + line[cut:])
PY
export DATABASE_URL=postgres://postgres@127.0.0.1/$db
for round in $(seq 1 "$rounds"); do
    for input in "$file" "$hashed"; do
        "${pg[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
        target/release/loader init >/dev/null
        "${pg[@]}" -d "$db" -c CHECKPOINT
        started=$(date +%s.%N)
        target/release/loader load "$input" >/dev/null
        ended=$(date +%s.%N)
        facts=$("${pg[@]}" -d "$db" -Atc "SELECT count(*) FROM facts")
        case $input in "$file") ids="own ids" ;; *) ids="ids in no order" ;; esac
        echo "round $round, $ids: $(echo "$ended - $started" | bc) s ($facts facts)"
    done
done
