#!/usr/bin/env bash
# One 1M-row object, two loader binaries side by side: each run into a
# fresh database (`loader init`, CHECKPOINT, then the timed `loader load`),
# the binaries interleaved, ROUNDS times; prints each run and the medians.
#
#   bash benches/one-object.sh NEW_LOADER OLD_LOADER [ROUNDS]
#
# Needs psql/createdb against PGHOST/PGPORT/PGUSER (default
# 127.0.0.1:5432, postgres) and the release generator (target/release).
set -euo pipefail
new=${1:?usage: one-object.sh NEW_LOADER OLD_LOADER [ROUNDS]}
old=${2:?usage: one-object.sh NEW_LOADER OLD_LOADER [ROUNDS]}
rounds=${3:-5}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
here=$(cd "$(dirname "$0")/.." && pwd)
generator=${GENERATOR:-$here/target/release/generator}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$generator" --rows 1000000 --files 1 --seed 44 --out "$work/1x1M" >/dev/null
file=$(ls "$work"/1x1M/*.csv)

run() { # run NAME BINARY -> seconds
    local db="one_object_$1"
    dropdb --if-exists --force "$db" && createdb "$db"
    DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" "$2" init >/dev/null
    psql -d "$db" -XAtqc CHECKPOINT
    local t0 t1
    t0=$(date +%s.%N)
    DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" "$2" load "$file" >/dev/null
    t1=$(date +%s.%N)
    dropdb --force "$db"
    echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: >"$work/new" && : >"$work/old"
for r in $(seq 1 "$rounds"); do
    for which in new old; do
        bin=$new; [ "$which" = old ] && bin=$old
        s=$(run "$which" "$bin")
        printf '%s\tround %s\t%s s\n' "$which" "$r" "$s"
        echo "$s" >>"$work/$which"
    done
done
n=$(median <"$work/new"); o=$(median <"$work/old")
printf 'median: new %s s, old %s s, new/old %s\n' "$n" "$o" "$(echo "scale=4; $n / $o" | bc)"
