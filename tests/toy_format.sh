#!/bin/sh
# Shows that adding an image format is one new file and one line: copies
# the tree to a temporary folder, adds formats/toyimg.c (a made-up format,
# "TOY1", width and height as 16-bit little-endian, then RGB bytes) and
# its line in decoder.h's DECODER_LIST, builds clippie there and checks
# that the format is decoded, found by the folder walk by its extension,
# named in --version and in the "not an image" message. Nothing else is
# touched. Takes a full build (a minute or two): run by hand,
#
#     sh tests/toy_format.sh
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"
git ls-files -z | xargs -0 cp --parents -t "$tmp"
cat > "$tmp/formats/toyimg.c" <<'EOF'
/* toyimg.c - a made-up format: "TOY1", width and height (16-bit
 * little-endian), then RGB bytes, row by row. See decoder.h. */
#include "decoder.h"

#include <stdlib.h>
#include <string.h>

static int toyimg_probe(const unsigned char *buf, size_t len) { return len >= 8 && !memcmp(buf, "TOY1", 4); }

static int toyimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o,
                         struct decoder_pixels *im, char *err)
{
    *im = (struct decoder_pixels){0};
    uint64_t w = buf[4] | buf[5] << 8, h = buf[6] | buf[7] << 8;
    if (decoder_check_size(w, h, o->max_pixels, err) < 0)
        return -1;
    if (len - 8 < w * h * 3)
        return error(err, "truncated TOY: %zu bytes of pixels, %llu expected", len - 8,
                     (unsigned long long)(3 * w * h));
    if (!(im->px = malloc(w * h * 3)))
        return error(err, "out of memory for a TOY");
    memcpy(im->px, buf + 8, w * h * 3);
    im->w = (int)w, im->h = (int)h, im->c = 3;
    return 0;
}

const struct decoder toyimg_decoder = {
    .name = "TOY",
    .extensions = "toy",
    .probe = toyimg_probe,
    .decode = toyimg_decode,
};
EOF
sed -i 's/^    X(tgaimg)$/    X(toyimg) \\\n    X(tgaimg)/' "$tmp/formats/decoder.h"
echo "the one line:"
diff -u formats/decoder.h "$tmp/formats/decoder.h" | sed -n '/^@@/,$p' || true
make -C "$tmp" -j2 clippie tests/mkweights > "$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log"; exit 1; }
if grep -q "warning:" "$tmp/build.log"; then grep -A3 "warning:" "$tmp/build.log"; exit 1; fi
cd "$tmp"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
mkdir photos
printf 'TOY1\040\000\030\000' > photos/a.toy
head -c $((32 * 24 * 3)) /dev/urandom >> photos/a.toy
printf 'TOY1\040\000\030\000' > photos/short.toy
tests/mkweights model.weights 64 1 8 4 64 1 77 49408 32 > /dev/null
./clippie embed-image -m model.weights -f csv photos > out.csv 2> err.txt || true
check "--version lists TOY" "./clippie --version | grep -q '^  TOY  *toy  *built in'"
check "the walk finds a.toy and short.toy, a.toy is embedded" "[ \$(wc -l < out.csv) -eq 1 ]"
check "short.toy is refused by the new decoder" "grep -q 'short.toy: truncated TOY' err.txt"
echo hello > photos/hello.toy
./clippie embed-image -m model.weights -f csv photos/hello.toy > /dev/null 2> err.txt || true
check "'not an image' names TOY" "grep -q 'HEIF/AVIF, TOY or TGA' err.txt"
exit $fail
