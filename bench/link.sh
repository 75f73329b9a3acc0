#!/bin/sh
# Builds a benchmark driver against the modules of build/ (as the tests link
# them, less commands/ and main), after `make clippie`:
#
#   [CFLAGS=...] sh bench/link.sh OUT DRIVER.c [MORE LINKER ARGS]
#
# The BLAS is not linked: the modules load it when they need it (model/blas.c),
# so a driver calls it through their table, with the kernels clippie runs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1 driver=$2
shift 2
pkgs="$(sed -n 's/^PKGS = //p' "$top/Makefile") $(sed -n 's/^LAZY_PKGS = //p' "$top/Makefile")"
layers=$(sed -n 's/^LAYERS = //p' "$top/Makefile")
cc ${CFLAGS:--O2} -std=c11 -D_GNU_SOURCE -I"$top" $(for d in $layers; do printf ' -I%s/%s' "$top" "$d"; done) \
    $(pkg-config --cflags $pkgs) -o "$out" "$driver" \
    $(find "$top/build" -name '*.o' ! -name clippie.o ! -path '*corpus*' ! -path '*/commands/*') \
    $(pkg-config --libs $(sed -n 's/^PKGS = //p' "$top/Makefile")) "$@" -lm -lpthread -ldl
