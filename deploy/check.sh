#!/usr/bin/env bash
# Checks the Lambda's deployment: the binary links no local stand-in, it
# builds with cargo-lambda for x86_64 and arm64 (adding the aarch64 Rust target
# when it is missing), and the SAM template parses and passes cfn-lint when
# installed. Run it before a deployment and after changing dependencies,
# features or the template: about 25 minutes here for both architectures.
#
#   bash deploy/check.sh            # from anywhere in the repository
#   DEPLOY_CHECK_ARCHES=arm64 bash deploy/check.sh          # one architecture
#   DEPLOY_CHECK_PROFILE=lambda-ci bash deploy/check.sh     # CI: light profile
#
# Binaries go to target/lambda-check/<arch>/bootstrap/bootstrap, never to
# target/lambda/bootstrap/ (what `sam deploy` uploads). Fails on the first
# failure; prints why a skipped step was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf 'deploy/check.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

OUT=target/lambda-check
# The profile: dist (what you deploy; sizes in the README come from it) or
# lambda-ci (Cargo.toml: the same code unoptimized, for CI's time).
PROFILE=${DEPLOY_CHECK_PROFILE:-dist}
profile_args=(--profile "$PROFILE")
ARCHES=${DEPLOY_CHECK_ARCHES:-x86_64 arm64}
AARCH64=aarch64-unknown-linux-gnu
summary=()

# ---------------------------------------------------------------------------
step "the Lambda's dependencies: no local stand-ins"
# `cargo lambda build -p loader --no-default-features` resolves features as
# this command does. (Without -p, benches' `features = ["local"]` would be
# unified in; the builds below always pass -p loader.)
tree=$(cargo tree -p loader --no-default-features -e normal)
if found=$(grep -E 's3s|standins|generator' <<<"$tree"); then
    printf '%s\n' "$found" >&2
    fail "cargo tree -p loader --no-default-features -e normal mentions a local stand-in (above)"
fi
echo "cargo tree -p loader --no-default-features -e normal: no s3s, standins or generator ($(wc -l <<<"$tree") lines)"

# ---------------------------------------------------------------------------
step "deploy/template.yaml"
if ! python3 -c 'import yaml' 2>/dev/null; then
    pip install --quiet pyyaml || fail "PyYAML is missing and pip could not install it"
fi
python3 - deploy/template.yaml <<'PY'
"""Parses a CloudFormation/SAM template (short-form tags such as !Ref, !Sub,
!GetAtt become their long forms) and checks that every !Ref, !GetAtt and
!Condition names something the template defines."""
import sys

import yaml


class CfnLoader(yaml.SafeLoader):
    pass


def long_form(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", long_form)

path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    doc = yaml.load(f, Loader=CfnLoader)

problems = []
for key in ("AWSTemplateFormatVersion", "Transform", "Resources"):
    if key not in doc:
        problems.append(f"no {key}")
params = set(doc.get("Parameters", {}))
resources = set(doc.get("Resources", {}))
conditions = set(doc.get("Conditions", {}))


def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                if not v.startswith("AWS::") and v not in params | resources:
                    problems.append(f"{where}: !Ref {v}: no such parameter or resource")
            elif k == "Fn::GetAtt":
                if not isinstance(v, list) or v[0] not in resources:
                    problems.append(f"{where}: !GetAtt {v}: no such resource")
            elif k == "Condition" and isinstance(v, str):
                if v not in conditions:
                    problems.append(f"{where}: condition {v}: not defined")
            walk(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{where}[{i}]")


for section in ("Rules", "Conditions", "Resources", "Outputs"):
    walk(doc.get(section, {}), section)
if problems:
    sys.exit(f"{path}:\n  " + "\n  ".join(problems))
print(f"{path}: parses; {len(params)} parameters, {len(resources)} resources, references resolve")
PY
if command -v cfn-lint >/dev/null 2>&1; then
    cfn-lint --version
    cfn-lint deploy/template.yaml || fail "cfn-lint reported problems in deploy/template.yaml"
    echo "cfn-lint: no findings"
else
    echo "cfn-lint is not installed: skipped (pip install cfn-lint)"
fi

# ---------------------------------------------------------------------------
step "cargo-lambda and zig"
if ! cargo lambda --version >/dev/null 2>&1; then
    pip install --quiet cargo-lambda || fail "cargo-lambda is missing and pip could not install it"
fi
cargo lambda --version
# cargo-lambda links with zig (so the binary needs no newer glibc than the
# Lambda runtime's); without zig it would stop to ask how to install it.
if ! command -v zig >/dev/null 2>&1 && ! python3 -c 'import ziglang' 2>/dev/null; then
    pip install --quiet ziglang || fail "zig is missing and pip could not install ziglang"
fi

# build ARCH FLAG ELF_MACHINE FILE_WORD: builds, then checks the binary.
build() {
    local arch=$1 flag=$2 machine=$3 word=$4
    local dir="$OUT/$arch"
    local bin="$dir/bootstrap/bootstrap"
    step "cargo lambda build ${profile_args[*]} -p loader --bin bootstrap --no-default-features $flag"
    rm -f "$bin"
    local started=$SECONDS
    cargo lambda build "${profile_args[@]}" -p loader --bin bootstrap --no-default-features "$flag" \
        --lambda-dir "$dir"
    [ -f "$bin" ] || fail "$arch: $bin was not produced"
    [ -x "$bin" ] || fail "$arch: $bin is not executable"
    # ELF header: magic, then e_machine (little-endian) at byte 18.
    local magic got
    magic=$(od -An -tx1 -N4 "$bin" | tr -d ' \n')
    [ "$magic" = 7f454c46 ] || fail "$arch: $bin is not an ELF file"
    got=$(od -An -tx1 -j18 -N2 "$bin" | tr -d ' \n')
    [ "$got" = "$machine" ] || fail "$arch: $bin has ELF machine $got, expected $machine"
    if command -v file >/dev/null 2>&1; then
        local desc
        desc=$(file -b "$bin")
        echo "file: $desc"
        grep -q "$word" <<<"$desc" || fail "$arch: file does not say $word"
        case "$desc" in
            *"not stripped"*) fail "$arch: $bin is not stripped" ;;
        esac
    fi
    local size
    size=$(stat -c %s "$bin")
    local line
    line=$(printf '%-7s %s (%s): %s bytes (%s MiB), built in %ss' "$arch" "$bin" "$PROFILE" "$size" \
        "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')" $((SECONDS - started)))
    echo "$line"
    summary+=("$line")
}

if [[ " $ARCHES " == *" x86_64 "* ]]; then
    build x86_64 --x86-64 3e00 x86-64
fi

# ---------------------------------------------------------------------------
arm64_skip=""
if [[ " $ARCHES " != *" arm64 "* ]]; then
    arm64_skip="not in DEPLOY_CHECK_ARCHES ($ARCHES)"
elif ! command -v rustup >/dev/null 2>&1; then
    arm64_skip="rustup is not installed, so the $AARCH64 standard library cannot be added"
elif ! rustup target list --installed | grep -qx "$AARCH64"; then
    echo "adding the Rust target $AARCH64"
    if ! timeout 600 rustup target add "$AARCH64"; then
        arm64_skip="the Rust standard library for $AARCH64 is not installed and 'rustup target add $AARCH64' failed (no access to static.rust-lang.org?)"
    fi
fi
if [ -z "$arm64_skip" ]; then
    build arm64 --arm64 b700 aarch64
else
    step "arm64: SKIPPED: $arm64_skip"
    summary+=("arm64   skipped: $arm64_skip")
fi

step "summary"
printf '%s\n' "${summary[@]}"
echo "deploy/check.sh: OK"
