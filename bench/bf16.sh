#!/bin/sh
# Builds bench/bf16.c against Debian's oneDNN (apt-get install libdnnl-dev)
# and OpenBLAS, and runs it: bf16 products against sgemm for the image
# tower's shapes, in the same run.
#
#   sh bench/bf16.sh [WORKDIR]      # default /tmp/clippie-bench-bf16; RUNS (21)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/clippie-bench-bf16}
mkdir -p "$work"
cc -O2 -std=c11 -D_GNU_SOURCE $(pkg-config --cflags blas) -o "$work/bf16" "$here/bf16.c" \
    $(pkg-config --libs blas) -ldnnl -lm
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "$(grep -m1 -o -w avx512_bf16 /proc/cpuinfo || echo 'no avx512_bf16')" \
    "$(grep -m1 -o -w amx_bf16 /proc/cpuinfo || echo 'no amx')"
"$work/bf16" "${RUNS:-21}"
