#!/bin/sh
# Hostile and damaged index files, and the names and cache beside them, as
# the command line meets them (issue 26): each case crafts its input with
# tests/craft_index and checks the exit status and the message exactly.
#   sh tests/hostile_index.sh ./clippie tests/fixtures
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fix=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
craft=$here/craft_index
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cd "$tmp"
passed=0 failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "hostile_index.sh: FAIL: $*" >&2; }
# expect CODE CMD...: runs CMD (stdout to out, stderr to err), at most 30 s, and checks its exit status
expect() {
    want=$1; shift
    timeout 30 "$@" >out 2>err; got=$?
    if [ "$got" = "$want" ]; then ok; else bad "'$*' exited $got, expected $want: $(head -c 300 err)"; fi
}
# the whole of stderr, exactly
says() { if [ "$(cat err)" = "$1" ]; then ok; else bad "stderr is '$(head -c 300 err)', expected '$1'"; fi; }
same() { if [ "$1" = "$2" ]; then ok; else bad "got '$1', expected '$2'"; fi; }
has_out() { if grep -q -- "$1" out; then ok; else bad "out lacks '$1': $(head -c 300 out)"; fi; }

"$here/mkweights" img.weights 64 1 8 4 64 1 77 49408 32 || bad "mkweights failed"
mkdir a b
cp "$fix/img-rgb.png" a/rgb.png; cp "$fix/img-photo.jpg" a/photo.jpg; cp "$fix/img-small.bmp" a/small.bmp
cp "$fix/img-grey.png" b/grey.png; cp "$fix/img-la.png" b/la.png; cp "$fix/img-tall.png" b/tall.png
"$bin" index -m img.weights base.db a 2>/dev/null || bad "indexing a/ failed"
# a copy of base.db without its cache, edited by SQL
variant() { rm -f "$1" "$1-vectors"; cp base.db "$1"; shift 0; }
search() { expect "$1" "$bin" similarity -m img.weights --db "$2" -t dog; }

# 1: a vector of the wrong length or type is refused, never freed twice
for v in 'zeroblob(100)|100 bytes' 'zeroblob(257)|257 bytes' "'abc'|text" '7|an integer'; do
    variant v.db; "$craft" v.db "UPDATE clippie_vectors SET vector = ${v%|*} WHERE id = 2"
    what=${v#*|}; [ "$what" = text ] || [ "$what" = "an integer" ] && tail=", not 32 floats" || tail=", not 128 (32 floats)"
    search 3 v.db; says "clippie: v.db: entry 2's vector is $what$tail"
    expect 3 "$bin" index --dump -f csv v.db; says "clippie: v.db: entry 2's vector is $what$tail"
    expect 3 "$bin" duplicates --index v.db; says "clippie: v.db: entry 2's vector is $what$tail"
done

# 3: whatever lies at the cache's old temporary name is left alone: a link
# to a file is not written through, a FIFO does not hang the run
echo precious > victim
variant s.db; ln -s "$tmp/victim" s.db-vectors.part
expect 0 "$bin" index -m img.weights s.db
same "$(cat victim)" precious
if [ -L s.db-vectors.part ] && [ -f s.db-vectors ] && [ ! -L s.db-vectors ]; then ok; else bad "the link was moved"; fi
same "$(ls s.db-vectors* | tr '\n' ' ')" "s.db-vectors s.db-vectors.part "
variant f.db; mkfifo f.db-vectors.part
expect 0 "$bin" index -m img.weights f.db
expect 0 "$bin" similarity -m img.weights --db f.db -i a/rgb.png -k 1; same "$(cut -f2 out)" "$tmp/a/rgb.png"
# the cache is as readable as its index, no more
chmod 640 f.db; rm f.db-vectors; expect 0 "$bin" index -m img.weights f.db
same "$(stat -c %a f.db-vectors)" 640

# 4: a cache left by another index of the same name is not used but rewritten
"$bin" index -m img.weights idx.db a 2>/dev/null; rm idx.db
expect 0 "$bin" index -m img.weights idx.db b
expect 0 "$bin" similarity -m img.weights --db idx.db -i b/tall.png -k 1
same "$(cat out)" "$(printf '1.000000\t%s' "$tmp/b/tall.png")"
expect 0 "$bin" similarity -m img.weights --db idx.db -i b/grey.png -k 3
same "$(cut -f2 out | sort | tr '\n' ' ')" "$tmp/b/grey.png $tmp/b/la.png $tmp/b/tall.png "

# 5 and 5b: a view, a trigger, a virtual table, an index or a table of
# another shape is refused by every command, naming it, before it runs
variant view.db
"$craft" view.db "DROP TABLE clippie_vectors" "CREATE VIEW clippie_vectors(id, vector) AS WITH RECURSIVE r(id, vector) AS
    (SELECT 1, zeroblob(128) UNION ALL SELECT id + 1, vector FROM r) SELECT id, vector FROM r"
msg="clippie: view.db: not a clippie index: it holds a view named clippie_vectors, which clippie does not make"
search 3 view.db; says "$msg"
expect 3 "$bin" index --dump -f csv view.db; says "$msg"
expect 3 "$bin" index -m img.weights view.db; says "$msg"
expect 3 "$bin" index --merge merged.db base.db view.db; says "$msg (nothing merged: merged.db is as it was)"
same "$(ls merged.db* 2>/dev/null)" ""  # all or nothing: not even base.db's rows
expect 3 "$bin" search --index view.db -m img.weights dog; says "$msg"
expect 3 "$bin" duplicates --index view.db; says "$msg"
variant trig.db
"$craft" trig.db "CREATE TRIGGER inject AFTER INSERT ON clippie_files BEGIN
    INSERT OR IGNORE INTO clippie_roots VALUES (CAST('/usr/share/pixmaps' AS BLOB));
    UPDATE clippie_meta SET value = 'pwned' WHERE key = 'model_desc'; DELETE FROM clippie_vectors; END"
sum=$(md5sum < trig.db); cp "$fix/img-tall.png" a/new.png
expect 3 "$bin" index -m img.weights trig.db
says "clippie: trig.db: not a clippie index: it holds a trigger named inject, which clippie does not make"
same "$(md5sum < trig.db)" "$sum"; rm a/new.png
variant vt.db; "$craft" vt.db "CREATE VIRTUAL TABLE vt USING fts5(x)"
search 3 vt.db; says "clippie: vt.db: not a clippie index: it holds a virtual table named vt, which clippie does not make"
variant ix.db; "$craft" ix.db "CREATE INDEX by_size ON clippie_files(size)"
search 3 ix.db; says "clippie: ix.db: not a clippie index: it holds an index named by_size, which clippie does not make"
variant shape.db; "$craft" shape.db "UPDATE sqlite_schema SET sql = replace(sql, 'vector BLOB NOT NULL', 'vector BLOB NOT NULL CHECK (length(vector) > 0)') WHERE name = 'clippie_vectors'"
search 3 shape.db; says "clippie: shape.db: not a clippie index: its table clippie_vectors is not as clippie makes it"
variant nometa.db; "$craft" nometa.db "DROP TABLE clippie_meta"
search 3 nometa.db; says "clippie: nometa.db: an SQLite database, but not a clippie index"
variant novec.db; "$craft" novec.db "DROP TABLE clippie_vectors"
search 3 novec.db; says "clippie: novec.db: not a clippie index: no table clippie_vectors"
# the tables of issue 25 (failures, excludes, dates and hashes): all or
# none (an index made before them is read as it is, and a writer adds them)
variant part.db; "$craft" part.db "DROP TABLE clippie_failed"
search 3 part.db; says "clippie: part.db: not a clippie index: no table clippie_failed"
variant info.db; "$craft" info.db "UPDATE sqlite_schema SET sql = replace(sql, 'date INTEGER NOT NULL', 'date') WHERE name = 'clippie_info'"
search 3 info.db; says "clippie: info.db: not a clippie index: its table clippie_info is not as clippie makes it"
variant old.db; "$craft" old.db "DROP INDEX clippie_info_sha256" "DROP TABLE clippie_info" "DROP TABLE clippie_failed" "DROP TABLE clippie_excludes"
search 0 old.db
expect 0 "$bin" index --info old.db; has_out "unreadable: 0"
expect 0 "$bin" index -m img.weights old.db; same "$(cat err)" "clippie: 0 new, 0 changed, 0 moved, 0 removed, 3 unchanged, 0 skipped"
# (the dates gained: the search filters find all three)
expect 0 "$bin" search --index old.db -m img.weights --after 1900-01-01 --paths dog; same "$(wc -l < out | tr -d ' ')" 3

# 12: a name is a file's name, also one that looks like a URI; the lock is
# taken on the file SQLite opens
cp base.db u.db; sum=$(md5sum < u.db)
expect 0 "$bin" index -m img.weights file:u.db b
if [ -f file:u.db ]; then ok; else bad "no file named file:u.db"; fi
same "$(md5sum < u.db)" "$sum"
expect 0 "$bin" similarity -m img.weights --db file:u.db -i b/la.png -k 1; same "$(cut -f2 out)" "$tmp/b/la.png"
( flock -x file:u.db sleep 3 ) & sleep 0.5
expect 3 "$bin" index -m img.weights file:u.db; says "clippie: file:u.db is being updated by another clippie: try again when it is done"
wait
cp base.db 'q?mode=memory#x.db'
expect 0 "$bin" similarity -m img.weights --db 'q?mode=memory#x.db' -i a/photo.jpg -k 1; same "$(cut -f2 out)" "$tmp/a/photo.jpg"

# 14: every meta value checked, with a message that names it
meta() { variant m.db; "$craft" m.db "$@"; }
# (NULL into a NOT NULL column: the schema loosened for one connection, then put back)
null() {
    variant m.db
    "$craft" m.db "UPDATE sqlite_schema SET sql = replace(sql, ' NOT NULL', ' /*nn*/') WHERE name = '$1'" "$2" \
        "UPDATE sqlite_schema SET sql = replace(sql, ' /*nn*/', ' NOT NULL') WHERE name = '$1'"
}
both() { search 3 m.db; says "clippie: m.db: $1"; expect 3 "$bin" index --dump -f csv m.db; says "clippie: m.db: $1"; }
meta "UPDATE clippie_meta SET value = -5 WHERE key = 'dim'"; both "meta dim is -5, less than 0"
meta "UPDATE clippie_meta SET value = 70000 WHERE key = 'dim'"; both "meta dim is 70000, more than 65536"
meta "UPDATE clippie_meta SET value = -1 WHERE key = 'generation'"; both "meta generation is -1, less than 0"
meta "UPDATE clippie_meta SET value = '12abc' WHERE key = 'generation'"; both "meta generation is text, not an integer"
meta "UPDATE clippie_meta SET value = 0 WHERE key = 'dim'"; both "meta dim is 0 for a model: a model's dimension is at least 1"
meta "UPDATE clippie_meta SET value = 0 WHERE key = 'dim'; UPDATE clippie_meta SET value = '' WHERE key = 'model';
      UPDATE clippie_vectors SET vector = x''"
# (similarity compares the models first: the command's message, not the index's)
search 3 m.db; expect 3 "$bin" index --dump -f csv m.db; says "clippie: m.db: an empty index, no vectors"
meta "UPDATE clippie_meta SET value = 'x' WHERE key = 'model'"; both "meta model is not a model's id"
meta "UPDATE clippie_meta SET value = 2 WHERE key = 'exif'"; both "meta exif is 2, more than 1"
meta "INSERT OR REPLACE INTO clippie_meta VALUES('raw_full', 2)"; both "meta raw_full is 2, more than 1"
meta "INSERT OR REPLACE INTO clippie_meta VALUES('max_pixels', -1)"; both "meta max_pixels is -1, less than 0"
meta "INSERT OR REPLACE INTO clippie_meta VALUES('refreshed', 'soon')"; both "meta refreshed is text, not an integer"
meta "UPDATE clippie_meta SET value = '3/2' WHERE key = 'shard'"; both "meta shard '3/2' is not K/N with K < N"
meta "UPDATE clippie_meta SET value = 'a' || char(27) || '[2J' WHERE key = 'model_desc'"; both "meta model_desc holds a control character"
meta "DELETE FROM clippie_meta WHERE key = 'generation'"; both "not a clippie index (no meta generation)"
meta "UPDATE clippie_meta SET value = 'clippie-index 9' WHERE key = 'format'"; both "index format 'clippie-index 9', this clippie reads 'clippie-index 1'"
null clippie_meta "UPDATE clippie_meta SET value = NULL WHERE key = 'model'"; both "meta model is NULL, not text"
null clippie_meta "UPDATE clippie_meta SET value = NULL WHERE key = 'dim'"; both "meta dim is NULL, not an integer"
null clippie_files "UPDATE clippie_files SET path = NULL WHERE id = 1"
expect 3 "$bin" index --dump -f csv m.db; says "clippie: m.db: an entry's path is NULL, not a file's path"
meta "UPDATE clippie_roots SET path = 7"
expect 3 "$bin" index -m img.weights m.db; says "clippie: m.db: a root's path is an integer, not a file's path"
meta "UPDATE clippie_files SET path = CAST('/x' || char(0) || 'y' AS BLOB) WHERE id = 1"
expect 3 "$bin" index --dump -f csv m.db; says "clippie: m.db: an entry's path holds a NUL byte"

# 11 (the command line's side; test_index checks the snapshot itself): a
# search while refreshes change the index never fails
i=0; fails=0
( while [ ! -f stop ]; do cp b/tall.png a/moving.png; "$bin" index -m img.weights base.db 2>/dev/null
    rm -f a/moving.png; "$bin" index -m img.weights base.db 2>/dev/null; done ) &
while [ $i -lt 40 ]; do
    "$bin" similarity -m img.weights --db base.db -t dog -k 4 > out 2>err || fails=$((fails + 1)); i=$((i + 1))
done
touch stop; wait
same "$fails" 0

# issue 25 item 7: a search leaves no -wal or -shm behind, and an index in a
# folder the user cannot write is searched
expect 0 "$bin" similarity -m img.weights --db base.db -t dog
same "$(ls base.db* | tr '\n' ' ')" "base.db base.db-vectors "
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir ro; cp base.db ro/; chmod 644 ro/base.db; chmod 555 ro; chmod 755 "$tmp"; chmod 644 img.weights
    expect 0 setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" similarity -m img.weights --db ro/base.db -t dog -k 1
    same "$(ls ro | tr '\n' ' ')" "base.db "
    expect 0 setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" index --dump -f csv ro/base.db
    same "$(wc -l < out | tr -d ' ')" 3
    expect 0 setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" search --index ro/base.db -m img.weights --after 1900-01-01 dog
    expect 0 setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" index --info ro/base.db; has_out "photos: "
    same "$(ls ro | tr '\n' ' ')" "base.db "
else
    echo "hostile_index.sh: not root (or no setpriv): the read-only folder is not tried"
fi

echo "hostile_index: $passed passed, $failed failed"
[ "$failed" = 0 ]
