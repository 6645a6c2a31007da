#!/usr/bin/env bash
# One load of FILE by the release loader into a fresh database whose trigger
# writes the facts and the ledger's counts but no dimension rows: the trigger
# function of sql/db_transformation.sql with its dimensions' statement swapped
# for one pass counting the batch. What a load costs before any dimension work
# (BENCHMARKS.md, "What a 2.0x load would have to leave out"). Prints seconds.
#   bash benches/facts-only.sh /tmp/g1m/part-00001.csv
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: benches/facts-only.sh FILE.csv}
pg=(psql -U postgres -h 127.0.0.1 -q -v ON_ERROR_STOP=1)
db=facts_only_$$
"${pg[@]}" -d postgres -c "CREATE DATABASE $db"
trap '"${pg[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
export DATABASE_URL=postgres://postgres@127.0.0.1/$db
target/release/loader init >/dev/null
python3 - <<'PY' | "${pg[@]}" -d "$db"
sql = open('sql/db_transformation.sql').read()
start = sql.index('CREATE OR REPLACE FUNCTION @schema@.normalize_staging_batch()')
end = sql.index('$fn$\n$sql$', start) + len('$fn$')
body = sql[start:end].replace('@schema@', 'public')
cut_from = body.index('    WITH newest AS MATERIALIZED (')
cut_to = body.index('    WHERE w.g = 15;') + len('    WHERE w.g = 15;')
print(body[:cut_from]
      + '    SELECT count(*) AS n_rows, count(load_id) AS n_load_ids,'
      + ' min(load_id) AS first_load, max(load_id) AS last_load INTO batch FROM new_rows;'
      + body[cut_to:] + ';')
PY
started=$(date +%s.%N)
target/release/loader load "$file" >/dev/null
ended=$(date +%s.%N)
dims=$("${pg[@]}" -d "$db" -Atc "SELECT count(*) FROM dim_customers")
facts=$("${pg[@]}" -d "$db" -Atc "SELECT count(*) FROM facts")
echo "facts only: $(echo "$ended - $started" | bc) s ($facts facts, $dims customer rows)"
