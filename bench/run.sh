#!/bin/sh
# Benchmarks: clippie and PyTorch side by side, same checkpoint, same
# machine, same run. Needs Debian's python3-torch, python3-torchvision,
# python3-pil, python3-numpy and hyperfine. Prints a Markdown table of
# medians (hyperfine, RUNS runs each, default 7) and ratios.
#
#   sh bench/run.sh [WORKDIR]        # default /tmp/clippie-bench
#   ONLY=half sh bench/run.sh        # the half-precision table alone
#
# The checkpoint is a random ViT-B/32-shaped one (tests/make_fixtures.py
# --b32): speed depends on shapes, not on the values.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench}
py=/usr/bin/python3
bin=$top/clippie
if nm "$bin" 2>/dev/null | grep -q __asan_init; then
    echo "bench: $bin is a sanitized build (make test-sanitize); make clean && make first" >&2
    exit 1
fi
mkdir -p "$work"
cd "$work"
runs=${RUNS:-7}

[ -f b32.pt ] || $py "$top/tests/make_fixtures.py" --b32 b32.pt
# b32.weights keeps the checkpoint's float16 matrices; b32f32.weights is
# their float32 expansion (the same vectors, bit for bit)
[ -f b32.weights ] || "$bin" convert b32.pt b32.weights 2>/dev/null
[ -f b32f32.weights ] || "$bin" convert --dtype f32 b32.pt b32f32.weights 2>/dev/null
# inputs: 224x224 images, captions, 12-megapixel photos, a 100k x 512 database
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
os.makedirs("big", exist_ok=True)
shared = os.path.join(os.environ.get("SHARED", "../shared"), "images")
srcs = sorted(os.path.join(shared, f) for f in os.listdir(shared) if f.endswith(".jpg")) if os.path.isdir(shared) else []
for i in range(16):
    p = f"big/{i:02d}.jpg"
    if not os.path.exists(p):
        if srcs:
            im = Image.open(srcs[i % len(srcs)]).convert("RGB").resize((4032, 3024), Image.BICUBIC)
        else:
            im = Image.fromarray(rng.integers(0, 256, (3024, 4032, 3), dtype=np.uint8))
        im.save(p, quality=90)
if not os.path.exists("db.npy"):
    np.save("db.npy", rng.standard_normal((100000, 512), dtype=np.float32))
words = ["dog", "cat", "beach", "mountain", "car", "city", "child", "soup", "forest", "river", "bird", "house"]
with open("captions.txt", "w") as f:
    for i in range(1000):
        w = [words[(i * 7 + k * 3) % len(words)] for k in range(1 + i % 5)]
        f.write("a photo of a " + " and a ".join(w) + " on a sunny day\n")
PY
"$bin" tokenize < captions.txt > captions.ids
"$bin" tokenize "a photo of a dog on the beach" > query.ids
$py - <<'PY'
import random
r = random.Random(1)
w = [l.strip() for l in open("/usr/share/dict/american-english") if l.strip().isalpha()] if __import__("os").path.exists("/usr/share/dict/american-english") else ["dog", "cat", "tree"]
with open("captions100k.txt", "w") as f:
    for i in range(100000):
        f.write("a photo of a " + " ".join(r.choice(w) for _ in range(r.randint(1, 6))) + "\n")
PY
"$bin" embed-text -m b32.weights "a photo of a dog on the beach" > query.vec
ls "$PWD"/big/*.jpg > big.txt

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# median seconds of $runs runs of a shell command line
timeit() { hyperfine -w 1 -r "${2:-$runs}" --export-json t.json "$1" >/dev/null 2>&1 &&
    $py -c "import json; print(json.load(open('t.json'))['results'][0]['median'])"; }
# calc FORMAT EXPRESSION
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
row() { echo "| $1 | $2 | $3 | $4 |"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "$(grep -m1 -ow 'avx512f' /proc/cpuinfo || echo 'no AVX-512'), $(grep -m1 -ow 'avx2' /proc/cpuinfo || echo 'no AVX2')"
echo
# ONLY=half: the half-precision table alone (no PyTorch runs)
if [ "${ONLY:-}" != half ]; then
echo "| benchmark | clippie | PyTorch | clippie's speed-up |"
echo "|---|---|---|---|"

c=$(timeit "$bin embed-text -m b32.weights 'a photo of a dog on the beach' > /dev/null")
p=$(timeit "$py $here/torch_bench.py text-query b32.pt query.ids > /dev/null")
row "one-off text query, whole process, median ms" "$(calc %.1f "$c*1000")" "$(calc %.1f "$p*1000")" "$(calc %.1fx "$p/$c")"

c=$(timeit "$bin tokenize < captions100k.txt > /dev/null")
row "tokenize 100,000 captions, whole process, median s" "$(calc %.2f "$c")" "" ""

c=$(timeit "$bin embed-text -m b32.weights < captions.txt > /dev/null")
p=$(for i in $(seq "$runs"); do $py "$here/torch_bench.py" text-model b32.pt captions.ids; done | median)
row "1000 captions, captions/s (clippie: whole process; PyTorch: model at batch 32)" "$(calc %.0f "1000/$c")" \
    "$(calc %.0f "$p")" "$(calc %.2fx "(1000/$c)/$p")"

t40=$(timeit "$bin embed-image -m b32.weights img40 > /dev/null")
t8=$(timeit "$bin embed-image -m b32.weights img8 > /dev/null")
c=$(calc %.2f "($t40 - $t8) / 32 * 1000")
p=$(for i in $(seq "$runs"); do $py "$here/torch_bench.py" image-model b32.pt; done | median)
row "image model, 224x224, ms/image (clippie: (T40 - T8) / 32; PyTorch: batch 32)" "$c" "$p" "$(calc %.2fx "$p/$c")"

c=$(timeit "$bin embed-image -m b32.weights big > /dev/null" 3)
p=$(timeit "$py $here/torch_bench.py photos b32.pt $(tr '\n' ' ' < big.txt)" 3)
row "16 JPEGs of 12 MP, files to vectors, median s" "$(calc %.2f "$c")" "$(calc %.2f "$p")" "$(calc %.2fx "$p/$c")"
d=$(timeit "$bin embed-image -m b32.weights --draft big > /dev/null" 3)
row "the same with --draft (DCT-domain JPEG downscaling), median s" "$(calc %.2f "$d")" "$(calc %.2f "$p")" "$(calc %.2fx "$p/$d")"

c=$(timeit "$bin similarity --db db.npy -q query.vec --dim 512 -k 10 > /dev/null")
p=$(timeit "$py $here/torch_bench.py search db.npy query.vec > /dev/null")
row "top-10 of 100,000 x 512 (.npy), whole process, median ms (other: NumPy)" "$(calc %.1f "$c*1000")" \
    "$(calc %.1f "$p*1000")" "$(calc %.1fx "$p/$c")"
fi

# half precision: the float16 file against its float32 expansion
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
echo
echo "| half precision (ViT-B/32) | float16 file | float32 file | ratio |"
echo "|---|---|---|---|"
a=$(stat -c %s b32.weights); b=$(stat -c %s b32f32.weights)
row "weights file, MB" "$(calc %.0f "$a/1e6")" "$(calc %.0f "$b/1e6")" "$(calc %.2f "$a/$b")"
a=$(timeit "$bin embed-text -m b32.weights 'a photo of a dog on the beach' > /dev/null" 21)
b=$(timeit "$bin embed-text -m b32f32.weights 'a photo of a dog on the beach' > /dev/null" 21)
row "one-off text query, whole process, median ms" "$(calc %.1f "$a*1000")" "$(calc %.1f "$b*1000")" "$(calc %.2f "$a/$b")"
a=$(rss "$bin" embed-text -m b32.weights 'a photo of a dog on the beach'); b=$(rss "$bin" embed-text -m b32f32.weights 'a photo of a dog on the beach')
row "one-off text query, peak RSS MB" "$(calc %.0f "$a/1024")" "$(calc %.0f "$b/1024")" "$(calc %.2f "$a/$b")"
a=$(timeit "$bin embed-image -m b32.weights img8/00.png > /dev/null" 21)
b=$(timeit "$bin embed-image -m b32f32.weights img8/00.png > /dev/null" 21)
row "one-off image query (224 px), whole process, median ms" "$(calc %.1f "$a*1000")" "$(calc %.1f "$b*1000")" "$(calc %.2f "$a/$b")"
a=$(timeit "$bin embed-text -m b32.weights < captions.txt > /dev/null")
b=$(timeit "$bin embed-text -m b32f32.weights < captions.txt > /dev/null")
row "1000 captions, captions/s" "$(calc %.0f "1000/$a")" "$(calc %.0f "1000/$b")" "$(calc %.3f "$b/$a")"
a40=$(timeit "$bin embed-image -m b32.weights img40 > /dev/null"); a8=$(timeit "$bin embed-image -m b32.weights img8 > /dev/null")
b40=$(timeit "$bin embed-image -m b32f32.weights img40 > /dev/null"); b8=$(timeit "$bin embed-image -m b32f32.weights img8 > /dev/null")
a=$(calc %.2f "($a40 - $a8) / 32 * 1000"); b=$(calc %.2f "($b40 - $b8) / 32 * 1000")
row "image model, ms/image ((T40 - T8) / 32)" "$a" "$b" "$(calc %.3f "$a/$b")"
# the floor under a one-off text query on this machine: reading the text
# tower's matrices (12 x 12 x 512^2 weights) the first time in a process
cc -O2 -o touch "$here/touch.c"
a=$(for i in $(seq "$runs"); do ./touch b32.weights 76 | awk '{ print $2 }'; done | median)
b=$(for i in $(seq "$runs"); do ./touch b32f32.weights 151 | awk '{ print $2 }'; done | median)
row "first read of the text tower's matrices in a process (bench/touch), median ms" "$a" "$b" "$(calc %.2f "$a/$b")"
