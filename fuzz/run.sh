#!/usr/bin/env bash
# Builds and runs the encoder fuzz target for a while (default 60 s).
# Exits non-zero when the build fails or the target crashes (the input is
# then left in fuzz/artifacts/encode/).
#
#   fuzz/run.sh [seconds]
#
# Stable Rust is enough: libFuzzer's coverage instrumentation is plain -C
# flags, and only the sanitizers need nightly (-Zsanitizer), so none is
# used; the encoder's one `unsafe` (SSE2 compares, no memory access) has
# nothing for one to check. With
# cargo-fuzz installed the target is built and run by `cargo fuzz
# --sanitizer none`; without it, by plain cargo with the same flags, so CI
# needs nothing beyond cargo, crates.io and a C++ compiler (libFuzzer).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
# The instrumented build stays in fuzz/target, whatever CARGO_TARGET_DIR the
# caller uses for the workspace (its RUSTFLAGS differ from every other build).
export CARGO_TARGET_DIR="$PWD/target"

# New inputs go into corpus/ (ignored by git); the committed seeds stay.
mkdir -p corpus/encode artifacts/encode
libfuzzer_args=(
    -max_total_time="$seconds"
    -max_len=4096
    -timeout=10
    -rss_limit_mb=2048
    -print_final_stats=1
)
# The first directory receives the new inputs.
corpora=("$PWD/corpus/encode" "$PWD/seeds/encode")

if cargo fuzz --version >/dev/null 2>&1; then
    flags=(--sanitizer none --release --debug-assertions)
    cargo fuzz build "${flags[@]}" encode
    exec cargo fuzz run "${flags[@]}" encode "${corpora[@]}" -- "${libfuzzer_args[@]}"
fi

# What `cargo fuzz build --sanitizer none --release --debug-assertions`
# passes (cargo-fuzz 0.13).
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Ccodegen-units=1"
cargo build --release --config 'profile.release.debug="line-tables-only"' \
    --target "$triple" --bin encode
exec "target/$triple/release/encode" -artifact_prefix="$PWD/artifacts/encode/" \
    "${libfuzzer_args[@]}" "${corpora[@]}"
