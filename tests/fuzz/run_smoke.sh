#!/bin/sh
# Fuzz smoke run: tests/fuzz/run_smoke.sh BUILD_DIR SECONDS
#   1. generates seed corpora: every tests/fuzz/make_seeds_*.sh (run with sh) or make_seeds_*.py (run with
#      /usr/bin/python3) is called as `SCRIPT BUILD_DIR SEEDS_ROOT` and writes SEEDS_ROOT/<target>/ (SEEDS_ROOT =
#      BUILD_DIR/tests/fuzz/seeds: generated, never committed);
#   2. runs every fuzz_* executable in BUILD_DIR/tests/fuzz for SECONDS (libFuzzer -max_total_time) on a fresh
#      working corpus plus its seeds and its committed regression inputs (tests/fuzz/regress/<target>/), with a 10 s per-input timeout and a 2 GB RSS limit.
# Prints one line per target: "PASS <target> ...", "FAIL <target> ..." (followed by the log tail and the path of the
# crashing input) or "SKIP <target> ...". Exit 0 only when every target passed (and every seed script ran).
set -u
build=${1:?usage: run_smoke.sh BUILD_DIR SECONDS}
secs=${2:?usage: run_smoke.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
fuzzdir=$build/tests/fuzz
seeds=$fuzzdir/seeds
work=$fuzzdir/smoke
failed=0
mkdir -p "$seeds" "$work"

for s in "$here"/make_seeds_*; do
    [ -f "$s" ] || continue
    name=$(basename "$s")
    case $s in
        *.sh) sh "$s" "$build" "$seeds" ;;
        *.py) /usr/bin/python3 "$s" "$build" "$seeds" ;;
        *) continue ;;
    esac
    if [ $? -ne 0 ]; then
        echo "FAIL seeds:$name (the seed generator failed)"
        failed=1
    fi
done

found=0
for exe in "$fuzzdir"/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    found=1
    name=$(basename "$exe")
    corpus=$work/$name/corpus
    artifacts=$work/$name/artifacts
    log=$work/$name/log.txt
    rm -rf "$work/$name"
    mkdir -p "$corpus" "$artifacts"
    nseeds=0
    set -- "$corpus"
    if [ -d "$seeds/$name" ]; then
        nseeds=$(find "$seeds/$name" -type f | wc -l)
        set -- "$@" "$seeds/$name"
    fi
    # committed regression inputs (findings of earlier runs, a few bytes each) are replayed first
    if [ -d "$here/regress/$name" ]; then
        nseeds=$((nseeds + $(find "$here/regress/$name" -type f | wc -l)))
        set -- "$@" "$here/regress/$name"
    fi
    "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "PASS $name (${secs}s, ${runs:-?} runs, $nseeds seeds, corpus $(find "$corpus" -type f | wc -l))"
    else
        echo "FAIL $name (exit $rc; log $log)"
        tail -n 40 "$log"
        ls "$artifacts"/* 2>/dev/null | sed 's/^/  crashing input: /'
        failed=1
    fi
done
[ $found -eq 1 ] || echo "SKIP fuzz (no fuzz_* executables in $fuzzdir)"
exit $failed
