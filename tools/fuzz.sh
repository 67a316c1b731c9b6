#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each one.
#   tools/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
# Seeds: fuzz/corpus/<target>/ plus fresh ones from fuzz_make_seeds.
# A crash leaves its input in build-fuzz/findings/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
build=build-fuzz

if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Ddefault_library=static >/dev/null
fi
ninja -C "$build" >/dev/null

# Fuzz targets make scratch devices under TMPDIR: keep them inside the build dir.
export TMPDIR="$PWD/$build/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"

work="$build/corpus-work"
rm -rf "$work"
mkdir -p "$work"
"$build/fuzz/fuzz_make_seeds" "$work/generated" >/dev/null

failed=0
passed=0
for target in unseal counters host_device keyfile image attest boot_state secmon manifest \
    service_body service_range service_headers service_evidence; do
  mkdir -p "$work/$target" "$build/findings/$target"
  cp fuzz/corpus/$target/* "$work/$target/"
  cp "$work/generated/$target/"* "$work/$target/" 2>/dev/null || true # no generator for every target
  log="$build/findings/$target.log"
  if "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
       -artifact_prefix="$build/findings/$target/" "$work/$target" >"$log" 2>&1; then
    echo "fuzz $target: $(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1) in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz $target: FAILED (see $log)"
    tail -20 "$log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
