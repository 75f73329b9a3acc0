#!/bin/sh
# One caption, one image and a batch in-process (bench/latency.c, linked
# against the modules of build/), for the float16 and float32 files of the
# same random ViT-B/32-shaped checkpoint, then the one-off text and image
# queries whole process (hyperfine) and their peak RSS.
#
#   sh bench/latency.sh [WORKDIR]      # default /tmp/clippie-bench-latency
#
# RUNS (default 15) sets the medians' runs. BUILD_ONLY=1 stops once the
# driver, the checkpoint, its two files and the image are made (for
# bench/clipcpp.sh, which times them beside its peer).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench-latency}
bin=$top/clippie
runs=${RUNS:-15}
mkdir -p "$work"
cd "$top" && make -s clippie
sh "$here/link.sh" "$work/latency" "$here/latency.c"
cd "$work"
# a random ViT-B/32-shaped TorchScript checkpoint (needs torch once)
[ -f b32.pt ] || /usr/bin/python3 "$top/tests/make_fixtures.py" --b32 b32.pt
[ -f b32.weights ] || "$bin" convert b32.pt b32.weights 2>/dev/null
[ -f b32f32.weights ] || "$bin" convert --dtype f32 b32.pt b32f32.weights 2>/dev/null
[ -f 224.png ] || /usr/bin/python3 -c "
import numpy as np; from PIL import Image
Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save('224.png')"
[ -z "${BUILD_ONLY:-}" ] || exit 0
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "$(grep -m1 -o -w -E 'avx512f|avx2' /proc/cpuinfo | head -1) $(grep -m1 -o -w avx512_bf16 /proc/cpuinfo || true)" \
    "$(grep -m1 -o -w amx_bf16 /proc/cpuinfo || echo 'no amx')"
echo "BLAS: $("$bin" --version | sed -n 's/^BLAS: //p')"
for f in b32.weights b32f32.weights; do
    ./latency "$f" "$runs"
done
timeit() { hyperfine -N -w 3 -r "$runs" --export-json t.json "$1" >/dev/null 2>&1 &&
    /usr/bin/python3 -c "import json; r = json.load(open('t.json'))['results'][0]; print('%.1f ms (user+sys %.1f ms, min %.1f)' % (r['median'] * 1e3, (r['user'] + r['system']) * 1e3, r['min'] * 1e3))"; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
# what first touching memory costs this machine (bench/touch): the floor
# under a one-off query, which reads a tower's matrices once (76 MB of float16
# for the text tower, 176 MB for the image tower)
cc -O2 -o touch "$here/touch.c"
for mb in 76 176; do
    echo "| bench/touch b32.weights $mb MB | $(./touch b32.weights $mb) (ms) |"
done
for f in b32.weights b32f32.weights; do
    echo "| $f one-off text query, whole process | $(timeit "$bin embed-text -m $f 'a photo of a dog on the beach'") | RSS $(($(rss "$bin" embed-text -m $f 'a photo of a dog on the beach') / 1024)) MB |"
    echo "| $f one-off image query (224 px PNG), whole process | $(timeit "$bin embed-image -m $f 224.png") | RSS $(($(rss "$bin" embed-image -m $f 224.png) / 1024)) MB |"
done
