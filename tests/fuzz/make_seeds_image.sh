#!/bin/sh
# Seed corpora for the image fuzz targets (and fuzz_exif), generated at test time (nothing is committed):
#   tests/fuzz/make_seeds_image.sh BUILD_DIR SEEDS_ROOT
# Each fuzz_image_* binary in BUILD_DIR/tests/fuzz writes its own seeds (images generated in code, encoded with the
# library's encoders) when run with FM_FUZZ_SEEDS_OUT; a few small real photos from ../shared/data/faces (or
# $FM_DATA_DIR) are added to the JPEG and PNG corpora when present. Output: SEEDS_ROOT/<target>/.
set -eu
build=${1:?usage: make_seeds_image.sh BUILD_DIR SEEDS_ROOT}
root=${2:?usage: make_seeds_image.sh BUILD_DIR SEEDS_ROOT}
here=$(cd "$(dirname "$0")" && pwd)
data=${FM_DATA_DIR:-$here/../../../shared/data}
made=0
for t in fuzz_image_jpeg fuzz_image_jp2 fuzz_image_png fuzz_image_pnm fuzz_exif; do
    exe=$build/tests/fuzz/$t
    [ -x "$exe" ] || continue
    rm -rf "$root/$t"
    mkdir -p "$root/$t"
    FM_FUZZ_SEEDS_OUT=$root/$t "$exe" >/dev/null 2>&1 || { echo "make_seeds_image.sh: $t could not write its seeds" >&2; exit 1; }
    case $t in
        fuzz_image_jpeg) pat='*.jpg' ;;
        fuzz_image_png) pat='*.png' ;;
        *) pat= ;;
    esac
    if [ -n "$pat" ] && [ -d "$data/faces" ]; then
        # up to 6 real files under 40 kB
        find "$data/faces" -type f -name "$pat" -size -40k | sort | head -n 6 | while read -r f; do
            cp "$f" "$root/$t/real-$(basename "$f")"
        done
    fi
    made=$((made + 1))
done
echo "make_seeds_image.sh: seeds for $made image targets in $root"
