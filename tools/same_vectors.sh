#!/bin/sh
# Do two clippie binaries give the same vectors, bit for bit? Converts the
# committed test checkpoints with each, then embeds every fixture image (and
# ../shared/images), and 2,000 texts with a random model of CLIP's vocabulary, f32 and f16 files, and compares
# the raw float32 outputs with cmp. For refactorings that must change
# nothing: tools/same_vectors.sh OLD/clippie NEW/clippie
set -eu
old=$1 new=$2
fx=$(cd "$(dirname "$0")/../tests/fixtures" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
imgs=$(ls "$fx"/img-* "$fx"/pil-* $(dirname "$fx")/../../shared/images/*.jpg 2>/dev/null || true)
n=0 differ=0
for ckpt in tiny.jit.pt zoo-oc-st zoo-hf-bin; do
    for dtype in f32 f16; do
        for b in old new; do
            eval bin=\$$b
            "$bin" convert --dtype $dtype "$fx/$ckpt" "$tmp/$b.weights" 2>/dev/null
            "$bin" embed-image -m "$tmp/$b.weights" --names "$tmp/$b.names" $imgs > "$tmp/$b.image" 2>/dev/null || true
            "$bin" embed-image -m "$tmp/$b.weights" --draft --no-exif-orientation $imgs > "$tmp/$b.draft" 2>/dev/null || true
        done
        for out in image names draft; do
            n=$((n + 1))
            if ! cmp -s "$tmp/old.$out" "$tmp/new.$out"; then
                echo "differ: $ckpt $dtype $out"
                differ=$((differ + 1))
            fi
        done
        echo "$ckpt $dtype: $(($(wc -c < "$tmp/new.image") / 4)) image floats"
    done
done
# texts need CLIP's whole vocabulary: a random model of its shape
"$(dirname "$0")/../tests/mkweights" "$tmp/text.weights" 64 2 8 4 64 2 77 49408 32
for b in old new; do
    eval bin=\$$b
    sed -n 's/\t.*//p' "$fx/tokens.txt" | head -2000 | "$bin" embed-text -m "$tmp/text.weights" > "$tmp/$b.text" 2>/dev/null
done
n=$((n + 1))
cmp -s "$tmp/old.text" "$tmp/new.text" || { echo "differ: texts"; differ=$((differ + 1)); }
echo "texts: $(($(wc -c < "$tmp/new.text") / 4 / 32)) vectors compared"
echo "same vectors: $((n - differ)) passed, $differ failed"
[ "$differ" = 0 ]
