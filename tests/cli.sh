#!/bin/sh
# The command line as a user meets it: help, exit codes, formats, bad
# inputs skipped with the rest embedded, nothing left behind.
#   sh tests/cli.sh ./clippie tests/fixtures
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fix=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
passed=0 failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "cli.sh: FAIL: $*" >&2; }
# expect CODE CMD...: runs CMD (stdout to out, stderr to err) and checks its exit status
expect() {
    want=$1; shift
    "$@" >out 2>err; got=$?
    if [ "$got" = "$want" ]; then ok; else bad "'$*' exited $got, expected $want: $(head -c 300 err)"; fi
}
has() { if grep -q -- "$2" "$1"; then ok; else bad "$1 lacks '$2': $(head -c 300 "$1")"; fi; }
same() { if [ "$1" = "$2" ]; then ok; else bad "got '$1', expected '$2'"; fi; }

# help and usage
expect 0 "$bin" --help; has out "embed-image"; has out "exit status"
for c in convert embed-text embed-image similarity tokenize; do
    expect 0 "$bin" $c --help; has out "usage: clippie $c"; has out "exit status"
done
expect 2 "$bin"
expect 2 "$bin" frobnicate; has err "unknown command"
expect 2 "$bin" convert only-one-arg; has err "usage\|needs"
expect 2 "$bin" embed-text -f xml x; has err "raw, csv or npy"
expect 2 "$bin" embed-image -j 0 x; has err "-j"
expect 2 "$bin" similarity; has err "nothing to compare"

# convert: success, and failures that leave nothing behind
expect 0 "$bin" convert "$fix/tiny.jit.pt" tiny.weights; has err "parameters"
expect 3 "$bin" convert "$fix/bad-missing.pt" out.weights; has err "missing tensor visual.ln_post.weight"
expect 3 "$bin" convert "$fix/bad-system.pt" out.weights; has err "refused pickle global posix.system"
expect 3 "$bin" convert "$fix/img-rgb.png" out.weights; has err "not a zip archive"
same "$(ls | grep -c 'out.weights')" 0

# a model with CLIP's real vocabulary (random values) for the text commands
"$here/mkweights" model.weights 64 1 8 4 64 1 77 49408 32 || bad "mkweights failed"
expect 3 env -u CLIPPIE_MODEL HOME="$tmp/nohome" "$bin" embed-text x; has err "clippie convert"
expect 3 "$bin" embed-text -m "$fix/img-rgb.png" -f csv x; has err "not a clippie weights file"

# tokenize
expect 0 "$bin" tokenize "a dog" "Hello World!"
same "$(sed -n 1p out)" "49406 320 1929 49407"
same "$(sed -n 2p out)" "49406 3306 1002 256 49407"
printf 'one\ntwo\n' | "$bin" tokenize > out; same "$(wc -l < out | tr -d ' ')" 2
printf 'caf\351\n' | "$bin" tokenize > out 2>err; has err "invalid UTF-8"

# embed-text: formats, stdin, normalisation, truncation
expect 0 "$bin" embed-text -m model.weights -f raw "a dog" "a cat" "a bird"
same "$(wc -c < out | tr -d ' ')" $((3 * 32 * 4))
expect 0 "$bin" embed-text -m model.weights -f csv "a dog" "a cat"
same "$(wc -l < out | tr -d ' ')" 2
same "$(head -1 out | tr ',' '\n' | wc -l | tr -d ' ')" 32
printf 'a dog\na cat\n' | "$bin" embed-text -m model.weights -f csv > out2
if cmp -s out out2; then ok; else bad "stdin texts embed differently from arguments"; fi
printf 'a dog\0a cat\0' | "$bin" embed-text -m model.weights -f csv -0 > out2
if cmp -s out out2; then ok; else bad "-0 texts embed differently"; fi
"$bin" embed-text -m model.weights -f csv -n "a dog" | tr ',' '\n' |
    awk '{ s += $1 * $1 } END { exit !(s > 0.9999 && s < 1.0001) }' && ok || bad "-n does not give unit vectors"
expect 0 "$bin" embed-text -m model.weights -f npy "a dog" "a cat"
same "$(head -c 6 out | tail -c 5)" "NUMPY"
has out "'shape': (2, 32)"
"$bin" embed-text -m model.weights -f npy "a dog" "a cat" | cat > piped.npy
if cmp -s out piped.npy; then ok; else bad "npy through a pipe differs from npy to a file"; fi
long=$(printf 'word %.0s' $(seq 100))
expect 0 "$bin" embed-text -m model.weights -f csv "$long"; has err "cut to the model's 77"
# a text far over the tokenizer's 64 KiB is embedded (from its start) like any long one
head -c 200000 /dev/zero | tr '\0' 'a' | sed 's/aaaaaaaaa/word /g' > huge.txt
expect 0 "$bin" embed-text -m model.weights -f csv "$(cat huge.txt)"; has err "cut to the model's 77"

# embed-image: a folder with good, bad and ignored files
mkdir -p photos/sub photos/.hidden
cp "$fix/img-rgb.png" photos/b.png
cp "$fix/img-photo.jpg" photos/sub/c.jpg
cp "$fix/img-grey.png" photos/.hidden/h.png
cp "$fix/img-small.bmp" photos/a.bmp
echo "not an image" > photos/broken.jpg
head -c 300 "$fix/img-photo.jpg" > photos/truncated.jpg
echo "notes" > photos/notes.txt
"$here/mkweights" img.weights 64 1 8 4 64 1 77 49408 32 || bad "mkweights failed"
ln -s .. photos/sub/loop          # a link back up the tree is not followed
ln -s ../b.png photos/sub/link.png  # a link to a file is
expect 1 "$bin" embed-image -m img.weights -f csv --names names.txt photos
same "$(wc -l < out | tr -d ' ')" 4
rm photos/sub/loop photos/sub/link.png
expect 1 "$bin" embed-image -m img.weights -f csv --names names.txt photos
same "$(wc -l < out | tr -d ' ')" 3
same "$(cat names.txt | tr '\n' ' ')" "photos/a.bmp photos/b.png photos/sub/c.jpg "
has err "photos/broken.jpg: not an image"
has err "photos/truncated.jpg"
if grep -q "notes.txt\|hidden" err; then bad "ignored files were reported"; else ok; fi
expect 2 "$bin" embed-image -m img.weights -f raw photos/a.bmp --max-pixels 0x; has err "max-pixels"
expect 1 "$bin" embed-image -m img.weights -f csv --max-pixels 100 photos/b.png; has err "over the limit"
expect 1 "$bin" embed-image -m img.weights -f csv photos/a.bmp missing.png; has err "missing.png: No such file"
same "$(wc -l < out | tr -d ' ')" 1
printf 'photos/b.png\nphotos/a.bmp\n' | "$bin" embed-image -m img.weights -f csv > out2 2>err
same "$(wc -l < out2 | tr -d ' ')" 2
# rows are the images' own: b.png alone gives the first row of the stdin run
"$bin" embed-image -m img.weights -f csv photos/b.png > one
# (equal to float rounding: a batch of two sums in another order than one)
printf '%s\n%s\n' "$(head -1 out2)" "$(cat one)" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) a[i] = $i }
    NR == 2 { for (i = 1; i <= NF; i++) { d = a[i] - $i; e += d * d; n += $i * $i } exit !(e <= 1e-10 * n) }' &&
    ok || bad "an image's vector depends on the other images in its run"

# progress: on a terminal only
if command -v script >/dev/null 2>&1; then
    script -qec "$bin embed-image -m img.weights -f csv photos/a.bmp photos/b.png > /dev/null" /dev/null > tty.txt 2>&1
    has tty.txt "2/2 images"
    "$bin" embed-image -m img.weights -f csv photos/a.bmp photos/b.png > /dev/null 2> notty.txt
    same "$(wc -c < notty.txt | tr -d ' ')" 0
fi
# raw vectors are not written to a terminal
if command -v script >/dev/null 2>&1; then
    script -qec "$bin embed-text -m model.weights 'a dog'" /dev/null > tty.txt 2>&1
    has tty.txt "will not write binary vectors to a terminal"
fi

# similarity
expect 0 "$bin" embed-image -m img.weights -f npy --names db.txt photos/a.bmp photos/b.png photos/sub/c.jpg
mv out db.npy
expect 0 "$bin" similarity -m img.weights --db db.npy --names db.txt -i photos/b.png -k 2
same "$(head -1 out | cut -f2)" "photos/b.png"
same "$(wc -l < out | tr -d ' ')" 2
expect 0 "$bin" similarity -m img.weights -t "a dog" -t "a cat" -i photos/a.bmp -i photos/b.png
same "$(wc -l < out | tr -d ' ')" 3
expect 0 "$bin" similarity -m img.weights -t "a dog" -i photos/a.bmp -i photos/b.png --csv
same "$(sed -n 2p out | tr ',' '\n' | wc -l | tr -d ' ')" 3
head -2 db.txt > short.txt
expect 3 "$bin" similarity -m img.weights --db db.npy --names short.txt -t x; has err "2 lines, the vectors 3 rows"
"$here/mkweights" other.weights 64 1 8 4 64 1 77 49408 48 || bad "mkweights failed"
expect 3 "$bin" similarity -m other.weights --db db.npy -t x; has err "the model makes vectors of dimension 48, db.npy holds 32"
: > empty.npy
expect 3 "$bin" similarity -m img.weights --db empty.npy -t x; has err "empty"
printf '1,2\nnan,1\n' > nan.csv
printf '1,0\n' > q.csv
expect 3 "$bin" similarity --db nan.csv -q q.csv; has err "vector 2"
expect 3 "$bin" similarity --db nan.csv -q q.csv --csv; has err "vector 2"
printf '1,0\n0,1\n1,1\n' > db.csv
expect 0 "$bin" similarity --db db.csv -q q.csv -k 3
same "$(cut -f2 out | tr '\n' ' ')" "1 3 2 "

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
