#!/usr/bin/env bash
# Many loads at once, side by side (issue 28): two loader binaries over the
# same generated files, 8 x 125k rows and 100 x 10k rows (1M rows each), at
# -j 1, 2 and 4, plus one 1M-row object, plus raw `psql \copy` of the same
# files into an untriggered, unindexed table at 1 and 2 at once (the
# machine's own scaling ceiling). Every run gets a fresh database. While a
# run goes, pg_stat_activity is sampled every 0.1 s: the share of active
# backend samples of that database waiting on a lock (wait_event_type =
# 'Lock') is the lock-wait share. Runs are interleaved, ROUNDS times.
#
#   bash benches/contention.sh NEW_LOADER [OLD_LOADER] [ROUNDS]
#
# Needs: psql and createdb against PGHOST/PGPORT/PGUSER (default
# 127.0.0.1:5432, postgres) and the release generator (target/release).
# Prints one line per run (tab-separated) and a median table at the end.
set -euo pipefail
new=${1:?usage: contention.sh NEW_LOADER [OLD_LOADER] [ROUNDS]}
old=${2:-}
rounds=${3:-3}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
here=$(cd "$(dirname "$0")/.." && pwd)
generator=${GENERATOR:-$here/target/release/generator}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$generator" --rows 1000000 --files 8 --seed 42 --out "$work/8x125k" >/dev/null
"$generator" --rows 1000000 --files 100 --seed 43 --out "$work/100x10k" >/dev/null
"$generator" --rows 1000000 --files 1 --seed 44 --out "$work/1x1M" >/dev/null

# Samples the database's active backends until the file $stop appears;
# writes "active lock" sample counts to $out.
sample() {
    local db=$1 stop=$2 out=$3 active=0 lock=0 line
    while [ ! -e "$stop" ]; do
        line=$(psql -d "$db" -XAtc "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
            FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
              AND pid <> pg_backend_pid()" 2>/dev/null || echo "0|0")
        active=$((active + ${line%|*})); lock=$((lock + ${line#*|}))
        sleep 0.1
    done
    echo "$active $lock" >"$out"
}

# run LABEL DATASET J COMMAND...: one timed run in a fresh database $db.
run() {
    local label=$1 data=$2 j=$3; shift 3
    local started ended secs active lock share
    touch "$work/stop"; rm -f "$work/stop"
    sample "$db" "$work/stop" "$work/samples" &
    started=$(date +%s.%N)
    "$@" >/dev/null
    ended=$(date +%s.%N)
    touch "$work/stop"; wait
    read -r active lock <"$work/samples"
    secs=$(echo "$ended - $started" | bc -l)
    share=$(echo "if ($active > 0) 100 * $lock / $active else 0" | bc -l)
    printf '%s\t%s\t-j %s\t%.2f s\t%.0f rows/s\t%.1f%% lock\n' "$label" "$data" "$j" "$secs" \
        "$(echo "1000000 / $secs" | bc -l)" "$share" | tee -a "$work/results"
    dropdb --force "$db"
}

fresh() {
    db=contention_$$_$RANDOM
    createdb "$db"
}

loader_run() {
    local label=$1 bin=$2 data=$3 j=$4
    fresh
    DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" "$bin" init >/dev/null
    run "$label" "$data" "$j" env DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" \
        "$bin" load -j "$j" "$work/$data/"
}

copy_run() {
    local data=$1 j=$2
    fresh
    psql -d "$db" -Xqc "CREATE TABLE raw (transaction_id text, transaction_date date,
            transaction_time time, total_amount numeric(15,2), payment_method text,
            store_id smallint, store_name text, store_location text, product_id int,
            product_name text, product_category text, product_price numeric(15,2),
            quantity_sold smallint, customer_id int, customer_age smallint,
            customer_gender text, customer_membership text)"
    run "psql \\copy" "$data" "$j" bash -c '
        ls "$1"/*.csv | xargs -P "$2" -I{} psql -d "$3" -Xqc "\copy raw FROM '"'"'{}'"'"' CSV HEADER"
    ' _ "$work/$data" "$j" "$db"
}

for round in $(seq 1 "$rounds"); do
    echo "# round $round" >&2
    for data in 1x1M 8x125k 100x10k; do
        js="1 2 4"; [ "$data" = 1x1M ] && js=1
        for j in $js; do
            [ -n "$old" ] && loader_run old "$old" "$data" "$j"
            loader_run new "$new" "$data" "$j"
        done
        if [ "$data" != 1x1M ]; then
            for j in 1 2; do copy_run "$data" "$j"; done
        fi
    done
done

echo
echo "medians over $rounds rounds:"
sort "$work/results" | awk -F'\t' '
    { key = $1 "\t" $2 "\t" $3; n[key]++; t[key, n[key]] = $4 + 0; l[key, n[key]] = $6 + 0 }
    END {
        for (k in n) {
            m = n[k]; for (i = 1; i <= m; i++) { ts[i] = t[k, i]; ls[i] = l[k, i] }
            asort(ts); asort(ls)
            printf "%s\t%.2f s\t%.0f rows/s\t%.1f%% lock\n", k, ts[int((m + 1) / 2)],
                1000000 / ts[int((m + 1) / 2)], ls[int((m + 1) / 2)]
        }
    }' | sort
