#!/bin/sh
# The index's benchmarks: refreshing an unchanged library of 100,000 files,
# and searching its 100,000 x 512 vectors from the terminal (whole
# process), beside the same search of an .npy (the one-shot workflow).
# Medians of RUNS runs (hyperfine, default 9).
#
#   sh bench/index.sh [WORKDIR]        # default /tmp/clippie-bench-index
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench-index}
bin=$top/clippie
runs=${RUNS:-9}
n=${FILES:-100000}
mkdir -p "$work"
cd "$top" && make -s clippie tests/mkweights
sh "$here/link.sh" "$work/mkindex" "$here/mkindex.c"
cd "$work"
# a ViT-B/32-shaped model of random values: the index binds to it
[ -f b32.weights ] || "$top/tests/mkweights" b32.weights 768 12 32 7 512 12 77 49408 512
if [ ! -f lib.db ]; then
    rm -rf lib && mkdir lib
    ./mkindex b32.weights lib lib.db "$n"
fi
# written in large blocks, as NumPy writes one (how a file was written
# decides the page-cache folios a search maps, and so its page faults)
"$bin" index --dump -f npy lib.db | dd of=db.npy bs=64M iflag=fullblock 2>/dev/null
"$bin" index --dump -f raw lib.db | head -c 2048 > query.vec
median() { $1 -c "import json; print(json.load(open('t.json'))['results'][0]['median'])"; }
timeit() { hyperfine -N -w 2 -r "$runs" --export-json t.json "$1" >/dev/null 2>&1 &&
    python3 -c "import json; r = json.load(open('t.json'))['results'][0]; print('%.1f ms (min %.1f, max %.1f)' % (r['median'] * 1e3, r['min'] * 1e3, r['max'] * 1e3))"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(grep -m1 -o 'avx512f' /proc/cpuinfo || echo 'no avx512f'), $(grep -m1 -o 'avx2' /proc/cpuinfo || echo 'no avx2')"
echo "| benchmark ($n files, 512 dimensions) | median |"
echo "|---|---|"
echo "| index refresh, nothing changed | $(timeit "$bin index -m b32.weights lib.db") |"
# a folder of 10,000 photos renamed (ten folders of 1,000 moved into one):
# moved, not decoded; each way timed once
mkdir -p lib/renamed
t0=$(date +%s.%N); mv lib/00[0-9] lib/renamed/; "$bin" index -m b32.weights lib.db 2> moved.err; t1=$(date +%s.%N)
mv lib/renamed/* lib/; "$bin" index -m b32.weights lib.db 2>> moved.err; t2=$(date +%s.%N); rmdir lib/renamed
echo "| index refresh after renaming a folder of 10,000 photos (mv included; there and back) | $(python3 -c "print('%.0f ms, %.0f ms' % (($t1 - $t0) * 1e3, ($t2 - $t1) * 1e3))") ($(grep -o '[0-9]* moved' moved.err | tr '\n' ' ')) |"
echo "| search the index, top 10 | $(timeit "$bin similarity --db lib.db -q query.vec -k 10") |"
echo "| search the .npy, top 10 | $(timeit "$bin similarity --db db.npy -q query.vec -k 10") |"
# clippie search: one text (tokenized and run through the text tower) against
# the index, as a user types it
echo "| search \"a dog on a beach\", top 10 | $(timeit "$bin search --index lib.db -m b32.weights 'a dog on a beach'") |"
# with previews: the ten results made real photos (the synthetic library's
# files are empty), drawn with Unicode symbols
photos=$(ls "$top"/../shared/images/*.jpg 2>/dev/null | head -3)
if [ -n "$photos" ]; then
    "$bin" search --index lib.db -m b32.weights --paths beach > top10
    set -- $photos
    k=0
    while read -r f; do eval "cp \"\${$((k % $# + 1))}\" \"$f\""; k=$((k + 1)); done < top10
    echo "| search with symbol previews of the 10 results (photos of ../shared/images) | $(timeit "sh -c '$bin search --index lib.db -m b32.weights --preview=symbols beach > /dev/null'") |"
fi
echo "| duplicates, all pairs of $n photos | $(timeit "sh -c '$bin duplicates --index lib.db > /dev/null'" 3) |"
# embedding: index and embed-image run the same image pipeline
/usr/bin/python3 - <<'PY'
import os, numpy as np
from PIL import Image
rng = np.random.default_rng(0)
os.makedirs("img40", exist_ok=True)
for i in range(40):
    p = f"img40/{i:02d}.png"
    if not os.path.exists(p):
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(p)
PY
echo "| embed-image, 40 images of 224 px | $(timeit "sh -c '$bin embed-image -m b32.weights img40 > /dev/null'" 3) |"
echo "| index, the same 40 images into a new index | $(timeit "sh -c 'rm -f new.db*; $bin index -m b32.weights new.db img40 2>/dev/null'" 3) |"
