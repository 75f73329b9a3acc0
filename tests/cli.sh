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
expect 3 "$bin" convert "$fix/bad-missing.pt" out.weights; has err "pass --activation gelu or --activation quick_gelu"
expect 3 "$bin" convert --activation quick_gelu --heads 1,1 "$fix/bad-missing.pt" out.weights
has err "missing tensor visual.ln_post.weight"
expect 2 "$bin" convert --heads 12 "$fix/bad-missing.pt" out.weights; has err "IMAGE,TEXT"
expect 3 "$bin" convert "$fix/bad-system.pt" out.weights; has err "refused pickle global posix.system"
expect 3 "$bin" convert "$fix/img-rgb.png" out.weights; has err "not a zip archive"
same "$(ls | grep -c 'out.weights')" 0

# a model with CLIP's real vocabulary (random values) for the text commands
"$here/mkweights" model.weights 64 1 8 4 64 1 77 49408 32 || bad "mkweights failed"
expect 3 env -u CLIPPIE_MODEL HOME="$tmp/nohome" "$bin" embed-text x; has err "clippie convert"
expect 3 "$bin" embed-text -m "$fix/img-rgb.png" -f csv x; has err "not a clippie weights file"

# a weights file of the first format is refused with what to do
cp tiny.weights old.weights && printf '\001' | dd of=old.weights bs=1 seek=8 conv=notrunc 2>/dev/null
expect 3 "$bin" embed-text -m old.weights -f csv x; has err "made by an older clippie"
# --dtype: f16 and bf16 halve the file; bf16 of float16 weights says it rounded
expect 0 "$bin" convert --dtype f32 "$fix/tiny.jit.pt" f32.weights
expect 0 "$bin" convert --dtype bf16 "$fix/tiny.jit.pt" bf16.weights; has err "rounded weights by up to"
expect 0 "$bin" convert "$fix/tiny.jit.pt" keep.weights; has err "stored: 43 float32, 19 float16"
if grep -q "rounded" err; then bad "a lossless conversion warned of rounding"; else ok; fi
"$bin" embed-image -m f32.weights "$fix/img-rgb.png" > a.vec; "$bin" embed-image -m keep.weights "$fix/img-rgb.png" > b.vec
if [ -s a.vec ] && cmp -s a.vec b.vec; then ok; else bad "float16 weights give other vectors than their float32 expansion"; fi
expect 2 "$bin" convert --dtype f8 "$fix/tiny.jit.pt" x.weights; has err "f32, f16 or bf16"

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

# ---- the command line as a shell user expects it ----
# options anywhere, '--' ends them
expect 0 "$bin" embed-text -m model.weights "a dog" -f npy; has out "'shape': (1, 32)"
expect 0 "$bin" embed-text -m model.weights -f csv -- -f; same "$(wc -l < out | tr -d ' ')" 1
expect 0 "$bin" tokenize "a dog" -0; same "$(wc -l < out | tr -d ' ')" 1
# each command its own options, the bad one named once
expect 2 "$bin" embed-text -m model.weights --names x.txt "a dog"; has err "unknown option '--names'"
same "$(grep -c "unknown option" err)" 1
expect 2 "$bin" embed-image --jobs; has err "option '--jobs' needs a value"
expect 2 "$bin" tokenize -x; has err "unknown option '-x'"
# version and help
expect 0 "$bin" --version; has out "clippie 0"; has out "BLAS: OpenBLAS"; has out "a lone image's products: "
# the BLAS loads when a product needs it, not with every command
LD_DEBUG=files "$bin" tokenize "a dog" >/dev/null 2>ld.txt
if grep -q "file=libblas" ld.txt; then bad "tokenize loaded the BLAS"; else ok; fi
LD_DEBUG=files "$bin" embed-text -m tiny.weights "a dog" >/dev/null 2>ld.txt
if grep -q "file=libblas" ld.txt; then ok; else bad "embed-text did not load the BLAS"; fi
expect 0 "$bin" help embed-text; has out "usage: clippie embed-text"
expect 2 "$bin" help frobnicate; has err "unknown command"
# numbers: strict
expect 2 "$bin" embed-image -m img.weights --max-pixels -5 photos/a.bmp; has err "max-pixels"
expect 2 "$bin" embed-image -m img.weights -j 2x photos/a.bmp; has err "-j"
expect 2 "$bin" similarity --db db.csv -q q.csv -k 99999999999999999999999; has err "-k"
# -k past the rows means all rows, also when k * sizeof would wrap
expect 0 "$bin" similarity --db db.csv -q q.csv -k 1152921504606846976
same "$(wc -l < out | tr -d ' ')" 3
# output that could not be written fails
if [ -w /dev/full ]; then
    expect 3 sh -c "'$bin' --help > /dev/full"
    expect 3 sh -c "'$bin' embed-text -m model.weights -f csv 'a dog' > /dev/full"
fi
# a closed stdout is an error, never the names file's descriptor
expect 3 sh -c "'$bin' embed-image -m img.weights --names closed.txt photos/b.png >&-"
if [ -s closed.txt ]; then bad "vectors went into the names file"; else ok; fi
# XDG base directories for the default model
mkdir -p xdg/clippie && cp model.weights xdg/clippie/ViT-B-32.weights
expect 0 env -u CLIPPIE_MODEL XDG_CACHE_HOME="$tmp/xdg" HOME="$tmp/nohome" "$bin" embed-text -f csv x
expect 3 env -u CLIPPIE_MODEL XDG_CACHE_HOME="$tmp/none" HOME="$tmp/nohome" "$bin" embed-text -f csv x
has err "$tmp/none/clippie/ViT-B-32.weights"
# names with newlines: -0 writes and reads NUL-terminated names
mkdir -p odd && cp "$fix/img-rgb.png" "odd/new
line.png" && cp "$fix/img-small.bmp" odd/plain.bmp
expect 0 "$bin" embed-image -m img.weights -f npy -0 --names odd.names odd
mv out odd.npy
same "$(tr '\0' '|' < odd.names)" "odd/new
line.png|odd/plain.bmp|"
expect 0 "$bin" similarity -m img.weights --db odd.npy --names odd.names -0 -i odd/plain.bmp -k 2
same "$(tr '\0' '|' < out | sed 's/[0-9.-]*\t//g')" "odd/plain.bmp|odd/new
line.png|"
# (a newline-separated names file cannot hold that name: refused, nothing written)
expect 2 "$bin" embed-image -m img.weights -f npy --names odd.lines odd; has err "use -0"
[ -e odd.lines ] && bad "odd.lines written" || ok
# RFC 4180 CSV
expect 0 "$bin" similarity -m img.weights -t 'say "hi", friend' -i photos/a.bmp --csv
same "$(sed -n 2p out | cut -c1-21)" '"say ""hi"", friend",'
if command -v python3 >/dev/null; then
    python3 -c 'import csv, sys; r = list(csv.reader(open(sys.argv[1]))); sys.exit(not (r[1][0] == "say \"hi\", friend" and len(r[1]) == 2))' out &&
        ok || bad "python's csv module reads the CSV otherwise"
fi
# the README's pipeline: a raw query's dimension comes from the database
"$bin" embed-text -m img.weights "a dog" | "$bin" similarity --db db.npy --names db.txt -q - > out 2>err &&
    same "$(wc -l < out | tr -d ' ')" 3 || bad "embed-text | similarity -q - failed: $(cat err)"
# several queries and several databases
printf '0,1\n' > q2.csv
expect 0 "$bin" similarity --db db.csv -q q.csv -q q2.csv -k 1
same "$(cut -f2,3 out | tr '\t\n' ': ')" "1:q.csv:1 2:q2.csv:1 "
printf '0,-1\n0.9,0.1\n' > db2.csv
expect 0 "$bin" similarity --db db.csv --db db2.csv -q q.csv -k 2
same "$(cut -f2 out | tr '\n' ' ')" "db.csv:1 db2.csv:2 "
expect 2 "$bin" similarity --db db.csv --db db2.csv --names db.txt -q q.csv; has err "one --names for each --db"
# queries of another dimension than the database are refused, whatever mixes them
printf '1,0,0\n' > q3.csv
expect 3 "$bin" similarity --db db.csv -q q.csv -q q3.csv; has err "dimension"
expect 3 "$bin" similarity -m img.weights --db db.npy -t x -q q3.csv; has err "dimension"
# the table: base names, widened to fit, the middle of long names cut
cp photos/a.bmp photos/FreshFlower_in_a_vase.bmp
cp photos/a.bmp photos/a_very_long_name_that_goes_on_and_on_and_on_for_ever.bmp
expect 0 "$bin" similarity -m img.weights -t "a dog" -i photos/FreshFlower_in_a_vase.bmp \
    -i photos/a_very_long_name_that_goes_on_and_on_and_on_for_ever.bmp
has out "FreshFlower_in_a_vase.bmp"; has out "a_very_long_name_th"; has out "for_ever.bmp"
if grep -q "photos/" out; then bad "the table shows whole paths"; else ok; fi
# a CSV database with a header line
printf 'x,y\n1,0\n0,1\n' > head.csv
expect 0 "$bin" similarity --db head.csv -q q.csv -k 1; same "$(cut -f2 out)" 1
# inf and nan in a CSV are values (then refused as rows), not a raw file
printf 'inf,1\n' > inf.csv
expect 3 "$bin" similarity --db inf.csv -q q.csv; has err "vector 1 is all zeros, NaN or infinite"
# FIFOs, directories and devices are refused at once, never waited on
mkfifo fifo
expect 3 timeout 10 "$bin" similarity --db fifo -q q.csv; has err "fifo: is a FIFO"
expect 3 timeout 10 "$bin" embed-text -m fifo x; has err "is a FIFO"
expect 3 timeout 10 "$bin" similarity -m img.weights -i fifo -t x; has err "is a FIFO"
expect 1 timeout 10 "$bin" embed-image -m img.weights -f csv fifo photos/a.bmp; has err "is a FIFO"
expect 3 "$bin" similarity --db photos -q q.csv; has err "is a directory"
# a NUL inside a line of text is warned about
printf 'a dog\0 and more\n' | "$bin" embed-text -m model.weights -f csv > out 2> err; has err "NUL byte"
# embed-text answers each line as it comes (a coprocess), and an
# interrupted run leaves a valid .npy of every row so far
(echo "a dog"; sleep 1; echo "a cat"; sleep 20) | "$bin" embed-text -m model.weights -f npy > live.npy 2> err &
# (waits up to 15 s for the second row, however loaded the machine: the
# point is that it comes while the input is still open)
for i in $(seq 1 75); do [ "$(wc -c < live.npy | tr -d ' ')" = $((128 + 2 * 32 * 4)) ] && break; sleep 0.2; done
same "$(wc -c < live.npy | tr -d ' ')" $((128 + 2 * 32 * 4))
has live.npy "'shape': (2, 32)"
pkill -TERM -f "embed-text -m model.weights -f npy" ; wait
has live.npy "'shape': (2, 32)"
same "$(wc -c < live.npy | tr -d ' ')" $((128 + 2 * 32 * 4))
# a weights file cut short while in use: a message and exit 3, not a bare SIGBUS
cp model.weights cut.weights
(echo "a dog"; sleep 1; truncate -s 4096 cut.weights; echo "a cat"; sleep 1) |
    "$bin" embed-text -m cut.weights -f csv > out 2> err; code=$?
same "$code" 3; has err "truncated or changed while being read"
# progress within the first batch (one image a thread), and a closing count
if command -v script >/dev/null 2>&1; then
    script -qec "$bin embed-image -m img.weights -f csv -j 2 photos > /dev/null" /dev/null > tty.txt 2>&1
    has tty.txt "2/7 images"; has tty.txt "embedded, 2 skipped, 1 not images"
    timeout 10 script -qec "$bin embed-text -m model.weights -f csv" /dev/null < /dev/null > tty.txt 2>&1
    has tty.txt "reading texts from standard input"
    timeout 10 script -qec "$bin embed-text -m model.weights -f csv < /dev/null" /dev/null > tty.txt 2>&1
    if grep -q "reading texts" tty.txt; then bad "the note on reading stdin when it is no terminal"; else ok; fi
fi

# ---- index: incremental, exact names, crash-safe, sharded ----
mkdir -p lib/sub
cp "$fix/img-rgb.png" lib/a.png; cp "$fix/img-photo.jpg" lib/sub/b.jpg; cp "$fix/img-small.bmp" lib/c.bmp
cp "$fix/img-grey.png" "lib/new
line.png"; cp "$fix/img-la.png" "$(printf 'lib/bad\377utf8.png')"
expect 0 "$bin" index -m img.weights lib.db lib; has err "5 new, 0 changed, 0 moved, 0 removed, 0 unchanged, 0 skipped"
# the same vectors as embed-image gives, in path order, names exact
"$bin" index --dump -f csv --names dump.names -0 lib.db > dump.csv
find "$tmp/lib" -type f | LC_ALL=C sort | tr '\n' '\0' > want.names
# (the path with a newline in it sorts by bytes; find lists it whole, tr splits it: rebuild from the dump)
same "$(tr '\0' '|' < dump.names)" "$(printf '%s|' "$tmp/lib/a.png" "$(printf "$tmp/lib/bad\377utf8.png")" "$tmp/lib/c.bmp" "$tmp/lib/new
line.png" "$tmp/lib/sub/b.jpg")"
"$bin" embed-image -m img.weights -f csv -0 < dump.names > direct.csv 2>/dev/null
paste -d '\n' dump.csv direct.csv | awk -F, 'NR % 2 { for (i = 1; i <= NF; i++) a[i] = $i; next }
    { for (i = 1; i <= NF; i++) { d = a[i] - $i; e += d * d; n += $i * $i } } END { exit !(NR == 10 && e <= 1e-10 * n) }' &&
    ok || bad "index vectors differ from embed-image's"
# unchanged: not re-read (same size and mtime, new content); changed, removed, new
cache=$(ls -i lib.db-vectors)
expect 0 "$bin" index -m img.weights lib.db; has err "0 new, 0 changed, 0 moved, 0 removed, 5 unchanged"
same "$(ls -i lib.db-vectors)" "$cache"  # nothing changed: the search cache is not rewritten
cp -p "$fix/img-rgba.png" lib/a.png.tmp 2>/dev/null; touch -r lib/a.png lib/c.bmp
cp "$fix/img-photo.jpg" lib/c.bmp.new && touch -r lib/c.bmp lib/c.bmp.new && mv lib/c.bmp.new lib/c.bmp
rm -f lib/a.png.tmp
# (mv gave c.bmp a new inode: it counts as changed; a copy in place keeps it)
expect 0 "$bin" index -m img.weights lib.db; has err "0 new, 1 changed, 0 moved, 0 removed, 4 unchanged"
rm lib/sub/b.jpg; cp "$fix/img-tall.png" lib/d.png; touch lib/a.png
expect 0 "$bin" index -m img.weights lib.db; has err "1 new, 1 changed, 0 moved, 1 removed, 3 unchanged"
# search finds the odd names and prints them exactly
expect 0 "$bin" similarity -m img.weights --db lib.db -i "$fix/img-grey.png" -k 1 -0
same "$(cut -f2 out | tr '\0' '|')" "$tmp/lib/new
line.png|"
expect 0 "$bin" similarity -m img.weights --db lib.db -i "$fix/img-la.png" -k 1
same "$(cut -f2 out)" "$(printf "$tmp/lib/bad\377utf8.png")"
# an index and an .npy searched together
expect 0 "$bin" similarity -m img.weights --db lib.db --db db.npy -i photos/b.png -k 8 -0
same "$(tr -cd '\0' < out | wc -c | tr -d ' ')" 8
# a missing file in a folder is skipped and retried: exit 1
echo "not an image" > lib/broken.png
expect 1 "$bin" index -m img.weights lib.db; has err "broken.png: not"; has err "1 skipped"
rm lib/broken.png
# --exclude leaves out paths or names that match
expect 0 "$bin" index -m img.weights --exclude '*.png' --exclude '*/sub/*' excl.db lib; has err "1 new"
"$bin" index --dump -f csv --names excl.names excl.db > /dev/null
same "$(cat excl.names)" "$tmp/lib/c.bmp"
# the model is recorded: another is refused, naming both
expect 3 "$bin" index -m other.weights lib.db; has err "made with another model"
# (the same shape, one weight of its image projection changed)
cp img.weights changed.weights
printf '\000\000\200\077' | dd of=changed.weights bs=1 seek=$(($(wc -c < img.weights) - 4)) conv=notrunc 2>/dev/null
expect 3 "$bin" similarity -m changed.weights --db lib.db -t x; has err "made with another model"
expect 3 "$bin" index -m changed.weights lib.db; has err "made with another model"
# foreign, corrupt and busy indexes are refused clearly
printf 'hello' > notdb; expect 3 "$bin" index --dump notdb; has err "not a clippie index"
if command -v sqlite3 >/dev/null; then sqlite3 foreign.db 'CREATE TABLE t(x)';
    expect 3 "$bin" similarity --db foreign.db -q q.csv; has err "not a clippie index"; fi
cp lib.db corrupt.db; printf 'garbage garbage garbage garbage' | dd of=corrupt.db bs=1 seek=4096 conv=notrunc 2>/dev/null
head -c 5000 lib.db > corrupt.db
expect 3 "$bin" index --dump -f csv corrupt.db
( flock -x lib.db sleep 3 ) & sleep 0.5
expect 3 "$bin" index -m img.weights lib.db; has err "being updated by another clippie"
wait
# killed at any moment, a run resumes to the result of an uninterrupted one
mkdir -p many; for i in $(seq 1 60); do cp "$fix/img-photo.jpg" many/p$i.jpg; cp "$fix/img-rgb.png" many/q$i.png; done
# (a model with a 224-pixel input, so that the run lasts a few seconds)
"$here/mkweights" heavy.weights 128 2 8 28 64 1 77 49408 32 || bad "mkweights failed"
"$bin" index -m heavy.weights -j 1 clean.db many 2>/dev/null
"$bin" index -m heavy.weights -j 1 killed.db many 2>/dev/null & pid=$!
sleep 1; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
expect 0 "$bin" index -m heavy.weights killed.db; has err "unchanged"
"$bin" index --dump -f csv --names k.names killed.db > k.csv; "$bin" index --dump -f csv --names c.names clean.db > c.csv
if cmp -s k.names c.names; then ok; else bad "a resumed index holds other files than a clean one"; fi
same "$(wc -l < k.csv | tr -d ' ')" 120
# 4 shards (through GNU parallel when there is one) give the index of the whole
if command -v parallel >/dev/null; then
    parallel "'$bin' index -m heavy.weights -j 1 --shard {}/4 shard{}.db many 2>/dev/null" ::: 0 1 2 3
else
    for k in 0 1 2 3; do "$bin" index -m heavy.weights -j 1 --shard $k/4 shard$k.db many 2>/dev/null; done
fi
expect 0 "$bin" index --merge merged.db shard0.db shard1.db shard2.db shard3.db
"$bin" index --dump -f csv --names m.names merged.db > m.csv
if cmp -s m.names c.names; then ok; else bad "4 merged shards hold other files than one index"; fi
paste -d '\n' m.csv c.csv | awk -F, 'NR % 2 { for (i = 1; i <= NF; i++) a[i] = $i; next }
    { for (i = 1; i <= NF; i++) { d = a[i] - $i; e += d * d; n += $i * $i } } END { exit !(NR == 240 && e <= 1e-10 * n) }' &&
    ok || bad "merged shards' vectors differ from one index's"
# (the copies tie: the same scores, and all 120 the same names)
"$bin" similarity -m heavy.weights --db clean.db -i many/q3.png -k 120 > s1
"$bin" similarity -m heavy.weights --db shard0.db --db shard1.db --db shard2.db --db shard3.db -i many/q3.png -k 120 > s4
same "$(cut -f1 s1 | md5sum)" "$(cut -f1 s4 | md5sum)"
same "$(cut -f2 s1 | sort | md5sum)" "$(cut -f2 s4 | sort | md5sum)"
expect 3 "$bin" index -m heavy.weights --shard 1/4 clean.db many; has err "holds the whole library"
expect 2 "$bin" index -m img.weights --shard 4/4 x.db many; has err "shard"

# ---- the index in daily use ----
# a usage error creates nothing: no PATH for a new index, or a PATH missing
expect 2 "$bin" index -m img.weights fresh.clippie; has err "does not exist yet"
expect 2 "$bin" index -m img.weights fresh.clippie no-such-folder; has err "nothing was created"
same "$(ls fresh.clippie* 2>/dev/null)" ""
# a folder first: the default index ($CLIPPIE_INDEX, else under $XDG_DATA_HOME)
expect 0 env -u CLIPPIE_INDEX XDG_DATA_HOME="$tmp/xdg" "$bin" index -m img.weights lib; has err "5 new"
[ -f "$tmp/xdg/clippie/photos.clippie" ] && ok || bad "no default index under XDG_DATA_HOME"
expect 0 env CLIPPIE_INDEX="$tmp/env.clippie" "$bin" index -m img.weights lib; has err "5 new"
[ -f "$tmp/env.clippie" ] && ok || bad "no index at \$CLIPPIE_INDEX"
expect 0 env CLIPPIE_INDEX="$tmp/env.clippie" "$bin" index --info; has out "^photos: 5\$"
# an image query is preprocessed as the index's photos were: itself at 1.000000
mkdir -p turned; cp "$fix/img-orient6.jpg" turned/
expect 0 "$bin" index -m img.weights --no-exif-orientation noexif.clippie turned
expect 0 "$bin" similarity -m img.weights --db noexif.clippie -i turned/img-orient6.jpg -k 1
same "$(cut -f1 out)" "1.000000"
# a name with a newline cannot go in a newline-separated names file
expect 2 "$bin" embed-image -m img.weights -f npy --names nl.names lib; has err "use -0"
[ -e nl.names ] && bad "nl.names written" || ok
expect 2 "$bin" index --dump -f npy --names nl.names lib.db; has err "use -0"
"$bin" index --dump -f npy -0 --names nul.names lib.db > nul.npy
expect 3 "$bin" similarity --db nul.npy --names nul.names -q q.csv --dim 32; has err "need -0"
# Ctrl-C: the first says the batch in flight is being finished, the second
# stops at once; the index stays whole (360 photos: about 3 s on a 2-core
# AVX-512 VM, the first Ctrl-C half a second in)
mkdir -p more; for k in 1 2 3; do for f in many/*; do cp "$f" "more/$k-${f#many/}"; done; done
"$bin" index -m heavy.weights -j 1 ctrlc.db more 2> ctrlc.err & pid=$!
sleep 0.5; kill -INT $pid; sleep 0.3
has ctrlc.err "finishing the batch in flight; Ctrl-C again stops now"
kill -INT $pid 2>/dev/null; sleep 1
if kill -0 $pid 2>/dev/null; then bad "a second Ctrl-C did not stop clippie within a second"; kill -9 $pid; else ok; fi
wait $pid 2>/dev/null
expect 0 "$bin" index -m heavy.weights ctrlc.db

# ---- the index through a year of daily use (issue 25) ----
mkdir -p Pics/2022 Pics/2023 Pics/broken
cp "$fix/img-rgb.png" Pics/2022/a.png; cp "$fix/img-photo.jpg" Pics/2022/b.jpg; cp "$fix/img-small.bmp" Pics/2023/c.bmp
cp "$fix/img-tall.png" Pics/broken/t.png
# one root, whatever its spelling: a photo is stored once
expect 0 "$bin" index -m img.weights sp.clippie Pics; has err "4 new"
for spelling in "$tmp//Pics" "$tmp/Pics/../Pics" "Pics/." "Pics/"; do
    expect 0 "$bin" index -m img.weights sp.clippie "$spelling"; has err "0 new, 0 changed, 0 moved, 0 removed, 4 unchanged"
done
expect 0 "$bin" index --info sp.clippie; same "$(grep -c '^root: ' out)" 1; has out "^root: $tmp/Pics\$"
"$bin" index --dump -f csv sp.clippie > sp.csv; same "$(wc -l < sp.csv | tr -d ' ')" 4
# a root inside a recorded root adds nothing; a refresh then finds nothing new
expect 0 "$bin" index -m img.weights sp.clippie Pics/2022; has err "0 new"
expect 0 "$bin" index -m img.weights sp.clippie; has err "0 new, 0 changed, 0 moved, 0 removed, 4 unchanged"
# a new root holding a recorded one takes its place
expect 0 "$bin" index -m img.weights up.clippie Pics/2023; has err "1 new"
expect 0 "$bin" index -m img.weights up.clippie Pics; has err "3 new, 0 changed, 0 moved, 0 removed, 1 unchanged"
expect 0 "$bin" index --info up.clippie; same "$(grep '^root: ' out)" "root: $tmp/Pics"
# excludes as rsync and fd users write them, recorded for later runs
expect 0 "$bin" index -m img.weights --exclude broken --exclude '2023/c.*' ex.clippie Pics; has err "2 new"
expect 0 "$bin" index -m img.weights ex.clippie; has err "0 new, 0 changed, 0 moved, 0 removed, 2 unchanged"
"$bin" index --dump -f csv --names ex.names ex.clippie > /dev/null
same "$(cat ex.names | tr '\n' ' ')" "$tmp/Pics/2022/a.png $tmp/Pics/2022/b.jpg "
expect 0 "$bin" index --info ex.clippie; has out "^exclude: broken\$"; has out "^exclude: 2023/c.\*\$"
expect 3 "$bin" index -m img.weights --exclude other ex.clippie; has err "records --exclude '2023/c.\*' and more"
expect 0 "$bin" index -m img.weights --exclude nothing-here none.clippie Pics; has err "exclude 'nothing-here' matched nothing"
# an unreadable file is remembered: not tried again while unchanged, and
# a refresh where nothing changed exits 0
echo "not an image" > Pics/2023/junk.png
expect 1 "$bin" index -m img.weights sp.clippie; has err "junk.png: not"; has err "0 new, 0 changed, 0 moved, 0 removed, 4 unchanged, 1 skipped"
expect 0 "$bin" index -m img.weights sp.clippie; same "$(cat err)" "clippie: 0 new, 0 changed, 0 moved, 0 removed, 4 unchanged, 0 skipped, 1 still unreadable"
expect 0 "$bin" index --info sp.clippie; has out "^unreadable: 1\$"; has out "unreadable: $tmp/Pics/2023/junk.png: "
cp "$fix/img-grey.png" Pics/2023/junk.png
expect 0 "$bin" index -m img.weights sp.clippie; has err "0 new, 1 changed, 0 moved, 0 removed, 4 unchanged, 0 skipped"
expect 0 "$bin" index --info sp.clippie; has out "^unreadable: 0\$"; has out "^photos: 5\$"
# a renamed folder is moved, not decoded again (its files made unreadable
# after the move: a decode would fail); its vectors are kept
"$bin" index --dump -f csv sp.clippie > before.csv
mv Pics/2022 Pics/2022-summer; chmod 000 Pics/2022-summer/a.png Pics/2022-summer/b.jpg
expect 0 "$bin" index -m img.weights sp.clippie; same "$(cat err)" "clippie: 0 new, 0 changed, 2 moved, 0 removed, 3 unchanged, 0 skipped"
chmod 644 Pics/2022-summer/a.png Pics/2022-summer/b.jpg
"$bin" index --dump -f csv --names mv.names sp.clippie > after.csv
same "$(sort before.csv | md5sum)" "$(sort after.csv | md5sum)"
has mv.names "^$tmp/Pics/2022-summer/a.png\$"
# a copy reuses the vector of the file it copies: nothing decoded
cp Pics/2023/c.bmp Pics/2023/c-copy.bmp
if command -v script >/dev/null 2>&1; then
    script -qec "'$bin' index -m img.weights sp.clippie" /dev/null > copy.tty 2>&1
    has copy.tty "1 new, 0 changed, 0 moved, 0 removed, 5 unchanged"
    grep -q "images" copy.tty && bad "a copy was decoded: $(cat copy.tty)" || ok
else
    expect 0 "$bin" index -m img.weights sp.clippie; has err "1 new"
fi
"$bin" index --dump -f csv --names cp.names sp.clippie > cp.csv
same "$(sed -n "$(grep -n 'c-copy.bmp' cp.names | cut -d: -f1)p" cp.csv)" "$(sed -n "$(grep -n '/c.bmp' cp.names | cut -d: -f1)p" cp.csv)"
# forgetting a root; a missing root keeps its photos and says how to forget it
mkdir -p Other; cp "$fix/img-grey.jpg" Other/g.jpg
expect 0 "$bin" index -m img.weights sp.clippie Other; has err "1 new"
mv Other Other-gone
expect 1 "$bin" index -m img.weights sp.clippie; has err "its photos are kept ('clippie index --forget $tmp/Other sp.clippie' drops them)"
same "$(grep -c 'forget' err)" 1
expect 0 "$bin" index --info sp.clippie; has out "^photos: 7\$"
expect 0 "$bin" index --forget Other sp.clippie; has err "1 removed"
expect 0 "$bin" index --info sp.clippie; has out "^photos: 6\$"; same "$(grep -c '^root: ' out)" 1
expect 0 "$bin" index -m img.weights sp.clippie; has err "6 unchanged"
expect 3 "$bin" index --forget Nowhere sp.clippie; has err "not a root of sp.clippie"
# settings recorded: a shard, --draft, --no-exif-orientation refreshed plainly
expect 0 "$bin" index -m img.weights --shard 0/2 sh.clippie Pics
expect 0 "$bin" index -m img.weights sh.clippie; has err "0 new, 0 changed"
expect 3 "$bin" index -m img.weights --shard 1/2 sh.clippie; has err "holds 0/2, not shard 1/2"
expect 0 "$bin" index -m img.weights --draft --no-exif-orientation dr.clippie Pics
expect 0 "$bin" index -m img.weights dr.clippie; has err "0 new, 0 changed"
expect 0 "$bin" index --info dr.clippie; has out "^options: --no-exif-orientation --draft\$"
expect 3 "$bin" index -m img.weights --raw-full dr.clippie
has err "dr.clippie was made with --no-exif-orientation --draft, not with --no-exif-orientation --draft --raw-full"
expect 0 "$bin" index --info sp.clippie; has out "^model: img.weights (image"; has out "^generation: "; has out "^refreshed: 20"
# dates: EXIF DateTimeOriginal, else DateTime, else the mtime; searched by --after and --before
mkdir -p Dated
{ printf '\377\330\377\341\000\110Exif\000\000MM\000*\000\000\000\010\000\001\207\151\000\004\000\000\000\001\000\000\000\032\000\000\000\000'
  printf '\000\001\220\003\000\002\000\000\000\024\000\000\000\054\000\000\000\0002019:06:01 12:00:00\000'; tail -c +3 "$fix/img-photo.jpg"; } > Dated/original.jpg
{ printf '\377\330\377\341\000\066Exif\000\000MM\000*\000\000\000\010\000\001\001\062\000\002\000\000\000\024\000\000\000\032\000\000\000\000'
  printf '2015:02:03 04:05:06\000'; tail -c +3 "$fix/img-photo.jpg"; } > Dated/datetime.jpg
cp "$fix/img-rgb.png" Dated/mtime.png; touch -d '2021-03-04 12:00' Dated/mtime.png
expect 0 "$bin" index -m img.weights dt.clippie Dated; has err "3 new"
expect 0 "$bin" search --index dt.clippie -m img.weights --paths --after 2019-01-01 --before 2020-01-01 dog
same "$(cat out)" "$tmp/Dated/original.jpg"
expect 0 "$bin" search --index dt.clippie -m img.weights --paths --before 2019-06-01 dog; same "$(cat out)" "$tmp/Dated/datetime.jpg"
expect 0 "$bin" search --index dt.clippie -m img.weights --paths --after 2019-06-02 --before 2022-01-01 dog; same "$(cat out)" "$tmp/Dated/mtime.png"
expect 0 "$bin" search --index dt.clippie -m img.weights --paths --after 2019-06-01 dog; same "$(wc -l < out | tr -d ' ')" 2
expect 2 "$bin" search --index dt.clippie -m img.weights --after 2019-02-30 dog; has err "YYYY-MM-DD"
# merge: all or nothing, naming the input at fault; an existing OUT is the union exactly
mkdir -p MA MB; cp "$fix/img-rgb.png" MA/a.png; cp "$fix/img-photo.jpg" MA/b.jpg; cp "$fix/img-tall.png" MB/t.png
"$bin" index -m img.weights ma.clippie MA 2>/dev/null; "$bin" index -m img.weights mb.clippie MB 2>/dev/null
"$bin" index -m other.weights mo.clippie MB 2>/dev/null
expect 0 "$bin" index --merge mm.clippie ma.clippie mb.clippie
sum=$(md5sum < mm.clippie)
expect 3 "$bin" index --merge mm.clippie ma.clippie mo.clippie; has err "^clippie: mo.clippie: made with another model"
same "$(md5sum < mm.clippie)" "$sum"; same "$(ls mm.clippie.* 2>/dev/null)" ""
rm MA/b.jpg; "$bin" index -m img.weights ma.clippie 2>/dev/null
expect 0 "$bin" index --merge mm.clippie ma.clippie mb.clippie
"$bin" index --dump -f csv --names mm.names mm.clippie > /dev/null
same "$(cat mm.names | tr '\n' ' ')" "$tmp/MA/a.png $tmp/MB/t.png "
cp "$fix/img-rgb.png" notanindex.png
expect 3 "$bin" index --merge notanindex.png ma.clippie; has err "notanindex.png: not a clippie index"
cmp -s notanindex.png "$fix/img-rgb.png" && ok || bad "--merge overwrote a file that is not an index"

# ---- search ----
mkdir -p slib/trips; cp "$fix/img-photo.jpg" slib/photo.jpg; cp "$fix/img-photo.jpg" slib/copy.jpg
cp "$fix/dup-reenc.jpg" "$fix/dup-small.png" "$fix/img-rgb.png" "$fix/img-grey.jpg" slib/
cp "$fix/img-tall.png" "$fix/img-progressive.jpg" "$fix/img-small.bmp" slib/trips/
cp "$fix/img-grey.png" "slib/trips/new
line.png"
expect 0 env XDG_DATA_HOME="$tmp/sx" "$bin" index -m img.weights slib
expect 0 env XDG_DATA_HOME="$tmp/sx" "$bin" search -m img.weights -0 "a dog"
same "$(tr -cd '\0' < out | wc -c | tr -d ' ')" 10
env XDG_DATA_HOME="$tmp/sx" "$bin" search -m img.weights "a dog" > out
# one text scores exactly as similarity --db does
"$bin" similarity -m img.weights --db "$tmp/sx/clippie/photos.clippie" -t "a dog" > sim.out
if cmp -s out sim.out; then ok; else bad "search and similarity --db score one text differently"; fi
expect 0 env CLIPPIE_INDEX="$tmp/sx/clippie/photos.clippie" "$bin" search -m img.weights -k 3 "a dog"
same "$(wc -l < out | tr -d ' ')" 3
"$bin" index -m img.weights s.clippie slib 2>/dev/null
# the arithmetic, against vectors made apart: unit(2 unit(a) + unit(b) - unit(c))
"$bin" embed-text -m img.weights -f csv "red car" night dog > terms.csv
"$bin" index --dump -f csv s.clippie > sdump.csv
score=$(awk -F, 'function unit(v, n,   i, s) { s = 0; for (i = 1; i <= n; i++) s += v[i] * v[i]; s = sqrt(s); for (i = 1; i <= n; i++) v[i] /= s }
    FNR == NR { for (i = 1; i <= NF; i++) t[FNR, i] = $i; n = NF; next }
    FNR == 1 { for (k = 1; k <= 3; k++) { for (i = 1; i <= n; i++) v[i] = t[k, i]; unit(v, n); w = k == 1 ? 2 : k == 2 ? 1 : -1
               for (i = 1; i <= n; i++) q[i] += w * v[i] } unit(q, n) }
    { for (i = 1; i <= NF; i++) v[i] = $i; unit(v, NF); d = 0; for (i = 1; i <= NF; i++) d += v[i] * q[i]; if (FNR == 1 || d > best) best = d }
    END { printf "%.6f", best }' terms.csv sdump.csv)
expect 0 "$bin" search --index s.clippie -m img.weights 2:"red car" + night - dog
awk -v w="$score" 'NR == 1 { d = $1 - w; exit !(d < 2e-6 && d > -2e-6) }' out && ok || bad "2:red car + night - dog scored $(head -c 20 out), expected $score"
expect 2 "$bin" search --index s.clippie -m img.weights cat + - dog; has err "two operators"
expect 2 "$bin" search --index s.clippie -m img.weights cat dog; has err "join terms with + or -"
expect 3 "$bin" search --index s.clippie -m img.weights cat - cat; has err "cancel out"
# an image term: found by its copy, never itself
expect 0 "$bin" search --index s.clippie -m img.weights --paths -k 20 slib/photo.jpg
has out "$tmp/slib/copy.jpg"; grep -q "/slib/photo.jpg" out && bad "the query photo found itself" || ok
# filters: --under, --min-score
expect 0 "$bin" search --index s.clippie -m img.weights --under slib/trips --paths -0 -k 20 "a dog"
same "$(tr '\0' '\n' < out | grep -c "^$tmp/slib/trips/")" 4
same "$(tr -cd '\0' < out | wc -c | tr -d ' ')" 4
expect 0 "$bin" search --index s.clippie -m img.weights --min-score 1 "a dog"; same "$(wc -c < out | tr -d ' ')" 0
expect 2 "$bin" search --index s.clippie -m img.weights --under no-such "a dog"; has err "no-such"
# --paths -0 keeps a newline in a name; on a terminal it is shown escaped
expect 0 "$bin" search --index s.clippie -m img.weights --paths -0 -k 20 "a dog"
tr '\0' '|' < out | grep -q "|$tmp/slib/trips/new
line.png|\|^$tmp/slib/trips/new
line.png|" && ok || bad "search -0 lost the name with a newline"
if command -v script >/dev/null; then
    script -qec "'$bin' search --index s.clippie -m img.weights --paths -k 20 'a dog'" /dev/null > tty.out
    has tty.out 'trips/new\\nline.png'
fi
# CSV, read back by Python's csv module
expect 0 "$bin" search --index s.clippie -m img.weights -f csv -k 20 "a dog"
python3 -c 'import csv, sys; r = list(csv.reader(open(sys.argv[1], newline=""))); assert r[0] == ["rank", "score", "path"]; assert [x[0] for x in r[1:]] == [str(i) for i in range(1, len(r))]; assert any(x[2].endswith("new\nline.png") for x in r[1:]); print(len(r) - 1)' out > csvn && same "$(cat csvn)" 10 || bad "search -f csv is not read back by Python's csv"
# previews, forced on a pipe, and what auto finds in tmux
for mode in symbols kitty iterm sixel; do
    expect 0 "$bin" search --index s.clippie -m img.weights --preview=$mode -k 2 "a dog"
    has out "$tmp/slib"
done
expect 0 "$bin" search --index s.clippie -m img.weights --preview=kitty -k 1 "a dog"; has out '_Ga=T'
expect 0 "$bin" search --index s.clippie -m img.weights --preview=sixel -k 1 "a dog"; has out 'Pq\|P0;1;0q'
expect 0 "$bin" search --index s.clippie -m img.weights --preview=iterm -k 1 "a dog"; has out ']1337;File='
expect 0 "$bin" search --index s.clippie -m img.weights --preview=symbols -k 1 "a dog"; has out '\[38;2;'
expect 2 "$bin" search --index s.clippie -m img.weights --preview=ascii "a dog"; has err "auto, kitty"
if command -v tmux >/dev/null; then
    tmux -L clippie-test new-session -d -x 120 -y 40 "'$bin' search --index s.clippie -m img.weights --preview -k 1 'a dog' > tmux.out 2>&1; sleep 5"
    sleep 2; tmux -L clippie-test kill-server 2>/dev/null
    has tmux.out "$tmp/slib"; has tmux.out '\[38;2;\|_G\|1337\|P0;1;0q'
fi
# duplicates: the copy, the re-encoded and the resized copy with their original
"$bin" convert "$fix/zoo-oc-st" zoo.weights 2>/dev/null
expect 0 "$bin" index -m zoo.weights dup.clippie slib
expect 0 "$bin" duplicates --index dup.clippie --threshold 0.998
same "$(cat out)" "$(printf '%s\n' "$tmp/slib/copy.jpg" "$tmp/slib/dup-reenc.jpg" "$tmp/slib/dup-small.png" "$tmp/slib/photo.jpg")"
expect 0 "$bin" duplicates --index dup.clippie --threshold 1 -0
same "$(tr '\0' '|' < out)" "$tmp/slib/copy.jpg|$tmp/slib/photo.jpg|"
expect 2 "$bin" duplicates --index dup.clippie --threshold 1.5; has err "threshold"
expect 3 env XDG_DATA_HOME="$tmp/none" "$bin" duplicates; has err "clippie index FOLDER"

# SigLIP 2: an OpenCLIP folder (its tokenizer.json goes into the file), the
# model's own tokenizer (ids of the reference encoder, make_spm_fixtures.py),
# squash preprocessing, the sigmoid's probability
expect 0 "$bin" convert "$fix/siglip-b32-256" siglip.weights; has err "OpenCLIP SigLIP 2"; has err "gelu_tanh/gelu_tanh"
expect 0 "$bin" tokenize -m siglip.weights "A photo of a dog."
same "$(cat out)" "843 462 881 767 844 295 890 262 453 1"
expect 0 "$bin" embed-text -m siglip.weights -f csv "a dog" "un chien"
same "$(wc -l < out | tr -d ' ')" 2
expect 0 "$bin" embed-image -m siglip.weights -f csv "$fix/img-photo.jpg"
expect 0 "$bin" similarity -m siglip.weights --probability -t "a dog" -i "$fix/img-photo.jpg"; has out "e-0"
expect 2 "$bin" similarity -m model.weights --probability -t "a dog"; has err "needs a SigLIP model"
# a SigLIP 2 index, searched by text and by photo
mkdir -p sigl; cp "$fix/img-photo.jpg" "$fix/img-rgb.png" sigl/
expect 0 "$bin" index -m siglip.weights sig.clippie sigl; has err "2 new"
expect 0 "$bin" search --index sig.clippie -m siglip.weights "a dog"; same "$(wc -l < out | tr -d ' ')" 2
expect 0 "$bin" similarity -m siglip.weights --db sig.clippie -i sigl/img-rgb.png -k 1; same "$(cut -f1 out)" "1.000000"
expect 3 "$bin" search --index sig.clippie -m model.weights "a dog"; has err "made with another model"

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
