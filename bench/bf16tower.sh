#!/bin/sh
# The whole image tower with bf16 products (bench/bf16tower.c, linked
# against the modules of build/, Debian's oneDNN and OpenBLAS) against
# clippie's float32 vit_encode in the same run: the instructions' ceilings
# and single products on one core, batch rates, and the cosines of the
# vectors on random pixels, the test fixtures' images and the photos, for
# the random ViT-B/32 of bench/latency.sh (float32 and float16 files) and
# two zoo fixtures' small models.
#
#   sh bench/bf16tower.sh [WORKDIR]      # default /tmp/clippie-bench-bf16tower
#
# RUNS (default 5) sets the medians' runs; BATCHES (default 32,64).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench-bf16tower}
bin=$top/clippie
mkdir -p "$work"
cd "$top" && make -s clippie
# -lblas: the driver times cblas_sgemm itself, with the kernels OPENBLAS_CORETYPE names
CFLAGS="-O3 -fopenmp" sh "$here/link.sh" "$work/bf16tower" "$here/bf16tower.c" -fopenmp $(pkg-config --libs blas) -ldnnl
cd "$work"
# the random ViT-B/32 of bench/latency.sh (needs torch once)
[ -f b32.pt ] || python3 "$top/tests/make_fixtures.py" --b32 b32.pt
[ -f b32.weights ] || "$bin" convert b32.pt b32.weights 2>/dev/null
[ -f b32f32.weights ] || "$bin" convert --dtype f32 b32.pt b32f32.weights 2>/dev/null
for z in zoo-oc-st zoo-hf-st; do
    [ -f $z.weights ] || "$bin" convert "$top/tests/fixtures/$z" $z.weights 2>/dev/null
done
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')," \
    "model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores;" \
    "$(grep -m1 -o -w avx512_bf16 /proc/cpuinfo || echo 'no avx512_bf16')" \
    "$(grep -m1 -o -w amx_bf16 /proc/cpuinfo || echo 'no amx')"
images="$(ls "$top"/tests/fixtures/img-* /work/shared/images/*.jpg 2>/dev/null || true)"
runs=${RUNS:-5}
batches=${BATCHES:-32,64}
# OpenBLAS as it comes: 0.3.21 does not know every CPU it runs on (on an
# unknown model it takes its Prescott kernels, SSE3, for sgemm), which the
# first line of each run names
./bf16tower -p -r "$runs" -b "$batches" b32f32.weights
# and with its AVX-512 kernels named, unless the environment names some
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q -w avx512f /proc/cpuinfo; then
    # shellcheck disable=SC2086
    OPENBLAS_CORETYPE=SkylakeX ./bf16tower -p -r "$runs" -b "$batches" b32f32.weights $images
else
    # shellcheck disable=SC2086
    ./bf16tower -r 1 -b 0 b32f32.weights $images
fi
# the cosines alone for the float16 file and the small models
for m in b32.weights zoo-oc-st.weights zoo-hf-st.weights; do
    # shellcheck disable=SC2086
    ./bf16tower -r 1 -b 0 $m $images
done
