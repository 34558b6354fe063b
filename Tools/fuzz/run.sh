#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer,address over the decoders too) and runs
# each for SECONDS seconds, one at a time, on a seed corpus made from Protocol/vectors and the
# text traces. Prints executions and findings per target.
#
#   Tools/fuzz/run.sh [SECONDS] [TARGET...]     default: 60 s, every target
#   FUZZ_SANITIZE=fuzzer Tools/fuzz/run.sh      without AddressSanitizer
#   FUZZ_NO_BUILD=1 ...                         reuse the last build
#
# Targets: changeset bundle change recordstate pullrequest pullresponse textdocument exif.
# Work files go to Tools/out/fuzz/<target>/ (corpus/, crashes/, log.txt), not committed.
# A finding is a crash-*, leak-*, timeout-*, oom- or slow-unit file in crashes/: reproduce it
# with `Tools/fuzz/.build/release/fuzz-<target> <file>`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(changeset bundle change recordstate pullrequest pullresponse textdocument exif)
sanitize="${FUZZ_SANITIZE:-fuzzer,address}"
# Memory caps: a decoder must stay well below them (its inputs are at most -max_len bytes).
rss_mb="${FUZZ_RSS_MB:-1024}"
malloc_mb="${FUZZ_MALLOC_MB:-256}"
max_len="${FUZZ_MAX_LEN:-16384}"

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    # One combined -sanitize= flag: swiftc keeps only the last of several (so SwiftPM's
    # `--sanitize=fuzzer --sanitize=address` builds without coverage instrumentation);
    # --sanitize=fuzzer stays so that SwiftPM links libFuzzer's main, not the target's.
    for t in "${targets[@]}"; do
        swift build --package-path "$here" -c release --sanitize=fuzzer -Xswiftc "-sanitize=$sanitize" --product "fuzz-$t" -j 2 2>&1 | tail -n 1
    done
fi
bin="$here/.build/release"
# libFuzzer reports crashes itself; Swift's backtracer would hold a crashing process for minutes.
export SWIFT_BACKTRACE=enable=no

# Every binary must carry coverage counters, or libFuzzer fuzzes blind.
for t in "${targets[@]}"; do
    if ! objdump -h "$bin/fuzz-$t" | grep __sancov_cntrs >/dev/null; then echo "fuzz-$t has no coverage instrumentation" >&2; exit 1; fi
done
printf '%-14s %12s %10s %8s %s\n' target executions exec/s corpus findings
summary=""
for t in "${targets[@]}"; do
    out="$repo/Tools/out/fuzz/$t"
    mkdir -p "$out/corpus" "$out/crashes"
    STRATA_FUZZ_SEEDS="$out/seeds" STRATA_REPO="$repo" "$bin/fuzz-$t" >/dev/null 2>&1 || true
    set +e
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=0" \
        "$bin/fuzz-$t" "$out/corpus" "$out/seeds" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb="$rss_mb" -malloc_limit_mb="$malloc_mb" \
        -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$out/crashes/" >"$out/log.txt" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log.txt" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$out/log.txt" | grep -o '[0-9]*$' | tail -1)
    corpus=$(ls "$out/corpus" | wc -l)
    findings=$(ls "$out/crashes" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
    if [ -z "$findings" ] && [ $rc -ne 0 ]; then findings="exit $rc: see $out/log.txt"; fi
    printf '%-14s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "${findings:-none}"
done
