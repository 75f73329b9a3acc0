#!/bin/sh
# The peer: monatis/clip.cpp (with its ggml submodule) checked out of the
# fetched mirrors into a temporary folder, built there with cmake, fed the
# same random ViT-B/32-shaped checkpoint as bench/latency.c (written as its
# GGUF by bench/clipcpp_gguf.py, float16, then q8_0 by its own quantize
# tool), checked against clippie's vectors, and timed beside clippie and
# PyTorch in one run: in-process (bench/clipcpp_driver.c on clip.cpp's API,
# bench/latency.c, torch_bench.py latency) and whole process (hyperfine,
# peak RSS). Nothing of clip.cpp is kept in this repository.
#
#   sh bench/clipcpp.sh [WORKDIR]     # default /tmp/clippie-clipcpp
#
# RUNS (default 15) sets the medians' runs, ROUNDS (default 2) how many
# times the whole set is repeated, interleaved (the summary takes the
# median of the rounds), PT_RUNS (default 5) PyTorch's (seconds a call).
# BUILD_ONLY=1 stops after the build. Needs the mirrors
# /work/.mirror/monatis+clip.cpp and ggerganov+ggml (fetched with the
# session's fetch tool; not downloaded by this script), cmake, hyperfine,
# and for the checkpoint and the PyTorch rows Debian's python3-torch.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-clipcpp}
lat=${LATENCY_DIR:-/tmp/clippie-bench-latency}
mirror=${MIRROR:-/work/.mirror}
vocab=${VOCAB:-$top/../shared/clip/bpe_simple_vocab_16e6.txt.gz}
runs=${RUNS:-15}
rounds=${ROUNDS:-2}
pt_runs=${PT_RUNS:-5}
py=/usr/bin/python3
bin=$top/clippie
caption='a photo of a dog on the beach'
clip_git=$mirror/monatis+clip.cpp/repo
ggml_git=$mirror/ggerganov+ggml/repo
mkdir -p "$work"
cd "$work"
if [ ! -d src ]; then
    git clone -q "$clip_git" src
    # the submodule at the commit clip.cpp pins
    pin=$(git -C src ls-tree HEAD ggml | awk '{ print $3 }')
    # its library alone, by git archive: the mirror lacks some large example
    # files (the MNIST models), which a checkout would stop at
    mkdir -p src/ggml
    git --git-dir="$ggml_git" archive "$pin" -- CMakeLists.txt cmake include src ggml.pc.in | tar -x -C src/ggml
fi
# -march=native (clip.cpp's default) plus the AVX-512 paths it leaves off
cmake -S src -B build -DCMAKE_BUILD_TYPE=Release -DCLIP_NATIVE=ON -DCLIP_AVX512=ON \
    -DCLIP_AVX512_VNNI=ON -DCLIP_AVX512_VBMI=ON -DCLIP_BUILD_TESTS=ON >cmake.log 2>&1
cmake --build build -j2 >build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
# the in-process driver, on clip.cpp's static libraries
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Isrc -Isrc/ggml/include -o driver "$here/clipcpp_driver.c" \
    build/libclip.a build/ggml/src/libggml.a -lstdc++ -lm -lpthread
[ -z "${BUILD_ONLY:-}" ] || exit 0

# clippie's side: bench/latency, b32.pt, b32.weights (f16), b32f32.weights, 224.png
BUILD_ONLY=1 sh "$here/latency.sh" "$lat"
echo "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a  $vocab" | sha256sum -c --quiet
[ -f b32-f16.gguf ] || $py "$here/clipcpp_gguf.py" "$lat/b32.pt" "$vocab" b32-f16.gguf
[ -f b32-q8_0.gguf ] || build/bin/quantize b32-f16.gguf b32-q8_0.gguf 8 >quantize.log 2>&1
cp "$lat/224.png" 224.png
"$bin" tokenize "$caption" > query.ids

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "SIMD: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|fma|f16c|amx)' | sort | tr '\n' ' ')"
echo "clip.cpp $(git -C src rev-parse --short HEAD), ggml $(git -C src ls-tree HEAD ggml | awk '{ print substr($3, 1, 8) }'); 2 threads everywhere"

# The conversion's check: clip.cpp's vectors (its extract example, not
# normalised) against clippie's for the caption, the random 224 px image and
# a photo's centre cut to 224 px (no resampling on either side).
[ -f photo.png ] || $py -c "
from PIL import Image; import sys
im = Image.open(sys.argv[1]).convert('RGB'); w, h = im.size; s = min(w, h)
im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((224, 224), Image.BICUBIC).save('photo.png')" \
    "$top/../shared/images/soup.jpg"
"$bin" embed-text -m "$lat/b32.weights" -f npy "$caption" > clippie-text.npy
"$bin" embed-image -m "$lat/b32.weights" -f npy 224.png photo.png > clippie-image.npy
for q in f16 q8_0; do
    mkdir -p "vec-$q"
    (cd "vec-$q" && ../build/bin/extract -m "../b32-$q.gguf" -t 2 -v 0 --text "$caption" --image ../224.png --image ../photo.png >/dev/null)
done
$py -c "
import numpy as np
cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
t, i = np.load('clippie-text.npy'), np.load('clippie-image.npy')
print('| clip.cpp file | cosine to clippie: caption | random 224 px image | photo (224 px cut) |')
print('|---|---|---|---|')
for q in ('f16', 'q8_0'):
    v = lambda f: np.load('vec-%s/%s' % (q, f))[0]
    print('| %s | %.7f | %.7f | %.7f |' % (q, cos(v('text_vec_0.npy'), t[0]), cos(v('img_vec_224.png.npy'), i[0]),
                                           cos(v('img_vec_photo.png.npy'), i[1])))
"

# hyperfine -N over NAME=COMMAND pairs; one TSV row per command: name, median, user+sys (ms)
timeit() {
    t_runs=$1 t_warm=$2 t_kind=$3
    shift 3
    set --
    while read -r line; do set -- "$@" -n "${line%%=*}" "${line#*=}"; done
    hyperfine -N -w "$t_warm" -r "$t_runs" --export-json t.json "$@" >/dev/null 2>&1
    $py -c "
import json
for r in json.load(open('t.json'))['results']:
    print('whole\t%s\t$t_kind\t%.2f\t%.2f' % (r['command'], r['median'] * 1e3, (r['user'] + r['system']) * 1e3))"
}
# KEEP=1 adds this run's rounds to the last run's (a later, quieter round)
[ -n "${KEEP:-}" ] || { : > rows.tsv; : > raw.txt; }
# One round's TSV rows. In-process, interleaved: clippie f16, clip.cpp f16,
# clippie f32, clip.cpp q8_0, PyTorch (their own tables kept in raw.txt).
round_rows() {
    for job in "clippie f16|$lat/latency $lat/b32.weights $runs" "clip.cpp f16|./driver b32-f16.gguf $runs 4 2" \
        "clippie f32|$lat/latency $lat/b32f32.weights $runs" "clip.cpp q8_0|./driver b32-q8_0.gguf $runs 4 2" \
        "PyTorch f32|$py $here/torch_bench.py latency $lat/b32.pt query.ids $pt_runs"; do
        name=${job%%|*}
        # shellcheck disable=SC2086 # the command's words
        ${job#*|} | tee -a raw.txt | awk -F'|' -v n="$name" '/^\| /{ split($3, w, " "); split($4, c, " ");
            k = $2; sub(/^ /, "", k); sub(/ \(.*/, "", k); sub(/ $/, "", k); split(k, b, " ");
            if (b[1] == "batch") k = "batch";
            if (k !~ /^sgemm/) printf "in\t%s\t%s\t%s\t%s\t%s\n", n, k, w[1], c[2], b[3] }'
    done
    timeit "$runs" 3 "one-off text query" <<EOF
clippie f16=$bin embed-text -m $lat/b32.weights '$caption'
clip.cpp f16=build/bin/extract -m b32-f16.gguf -t 2 -v 0 --text '$caption'
clippie f32=$bin embed-text -m $lat/b32f32.weights '$caption'
clip.cpp q8_0=build/bin/extract -m b32-q8_0.gguf -t 2 -v 0 --text '$caption'
EOF
    timeit "$runs" 3 "one-off image query (224 px PNG)" <<EOF
clippie f16=$bin embed-image -m $lat/b32.weights 224.png
clip.cpp f16=build/bin/extract -m b32-f16.gguf -t 2 -v 0 --image 224.png
clippie f32=$bin embed-image -m $lat/b32f32.weights 224.png
clip.cpp q8_0=build/bin/extract -m b32-q8_0.gguf -t 2 -v 0 --image 224.png
EOF
    # PyTorch's imports alone take seconds: PT_RUNS
    timeit "$pt_runs" 1 "one-off text query" <<EOF
PyTorch f32=$py $here/torch_bench.py text-query $lat/b32.pt query.ids
EOF
    timeit "$pt_runs" 1 "one-off image query (224 px PNG)" <<EOF
PyTorch f32=$py $here/torch_bench.py photos $lat/b32.pt 224.png
EOF
}
round=1
while [ "$round" -le "$rounds" ]; do
    echo "round $(($(grep -c '^round' raw.txt) + 1)), $(uptime | sed 's/.*load/load/')" | tee -a raw.txt
    round_rows >> rows.tsv
    round=$((round + 1))
done
echo "end, $(uptime | sed 's/.*load/load/')"

rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
{
    printf 'rss\tclippie f16\ttext\t%s\n' "$(rss "$bin" embed-text -m "$lat/b32.weights" "$caption")"
    printf 'rss\tclippie f16\timage\t%s\n' "$(rss "$bin" embed-image -m "$lat/b32.weights" 224.png)"
    printf 'rss\tclippie f32\ttext\t%s\n' "$(rss "$bin" embed-text -m "$lat/b32f32.weights" "$caption")"
    printf 'rss\tclippie f32\timage\t%s\n' "$(rss "$bin" embed-image -m "$lat/b32f32.weights" 224.png)"
    for q in f16 q8_0; do
        printf 'rss\tclip.cpp %s\ttext\t%s\n' "$q" "$(rss build/bin/extract -m "b32-$q.gguf" -t 2 -v 0 --text "$caption")"
        printf 'rss\tclip.cpp %s\timage\t%s\n' "$q" "$(rss build/bin/extract -m "b32-$q.gguf" -t 2 -v 0 --image 224.png)"
    done
    printf 'rss\tPyTorch f32\ttext\t%s\n' "$(rss $py "$here/torch_bench.py" text-query "$lat/b32.pt" query.ids)"
    printf 'rss\tPyTorch f32\timage\t%s\n' "$(rss $py "$here/torch_bench.py" photos "$lat/b32.pt" 224.png)"
} >> rows.tsv

# the summary: each figure the median of its rounds' medians
$py - <<'PY'
import statistics
rows = [l.rstrip("\n").split("\t") for l in open("rows.tsv")]
who = ["clippie f16", "clippie f32", "clip.cpp f16", "clip.cpp q8_0", "PyTorch f32"]
med = lambda xs: statistics.median(float(x) for x in xs)
span = lambda xs: "%.1f (%.1f-%.1f" % (med(xs), min(map(float, xs)), max(map(float, xs)))
n = sum(1 for x in rows if x[:3] == ["in", "clippie f16", "one caption"])
print(f"\nmedians of {n} rounds (each itself a median), (lowest-highest round); ms; cpu = CPU time of the process")
print("\n| in-process, model loaded and warm | " + " | ".join(who) + " |")
print("|---" * (len(who) + 1) + "|")
for k, label in (("one caption", "one caption (tokenize + text tower)"), ("one image", "one 224 px image (model only)"),
                 ("batch", "a batch, per image")):
    cells = []
    for w in who:
        r = [x for x in rows if x[0] == "in" and x[1] == w and x[2] == k]
        size = ", of %s" % r[0][5] if r and k == "batch" else ""
        cells.append("%s; cpu %.1f%s)" % (span([x[3] for x in r]), med(x[4] for x in r), size) if r else "-")
    print(f"| {label} | " + " | ".join(cells) + " |")
print("\n| whole process (hyperfine -N) | " + " | ".join(who) + " |")
print("|---" * (len(who) + 1) + "|")
for k in ("one-off text query", "one-off image query (224 px PNG)"):
    cells = []
    for w in who:
        r = [x for x in rows if x[0] == "whole" and x[1] == w and x[2] == k]
        cells.append("%s; user+sys %.0f)" % (span([x[3] for x in r]), med(x[4] for x in r)) if r else "-")
    print(f"| {k} | " + " | ".join(cells) + " |")
for k in ("text", "image"):
    cells = []
    for w in who:
        r = [x for x in rows if x[0] == "rss" and x[1] == w and x[2] == k]
        cells.append("%.0f MB" % (float(r[-1][3]) / 1024) if r else "-")
    print(f"| peak RSS, one-off {k} query | " + " | ".join(cells) + " |")
PY
