#!/bin/sh
# Seed corpus for fuzz_dlib_hog, generated at test time (nothing is committed):
#   tests/fuzz/make_seeds_dlib_hog.sh BUILD_DIR SEEDS_ROOT
# The real dlib_frontal_face_detector.dat from the models directory (made by models/fetch; $FACEMATCH_MODELS, else
# $XDG_CACHE_HOME/facematch/models, else ~/.cache/facematch/models) plus a few prefixes of it. Without the model the
# corpus stays empty (the target still runs on generated inputs).
set -eu
build=${1:?usage: make_seeds_dlib_hog.sh BUILD_DIR SEEDS_ROOT}
root=${2:?usage: make_seeds_dlib_hog.sh BUILD_DIR SEEDS_ROOT}
: "$build"
if [ -n "${FACEMATCH_MODELS:-}" ]; then dir=$FACEMATCH_MODELS
elif [ -n "${XDG_CACHE_HOME:-}" ]; then dir=$XDG_CACHE_HOME/facematch/models
else dir=${HOME:-.}/.cache/facematch/models
fi
out=$root/fuzz_dlib_hog
rm -rf "$out"
mkdir -p "$out"
m=$dir/dlib_frontal_face_detector.dat
[ -f "$m" ] || exit 0
cp "$m" "$out/model.dat"
for n in 16 64 200 5000 40000; do
    head -c "$n" "$m" >"$out/prefix_$n.dat"
done
