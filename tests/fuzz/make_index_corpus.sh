#!/bin/sh
# Makes the seeds of the index fuzz target (tests/fuzz/corpus/index): real
# indexes made by clippie, with and without their cache, and the damaged and
# hostile variants of tests/hostile_index.sh, shrunk to 512-byte pages.
#   sh tests/fuzz/make_index_corpus.sh ./clippie tests/fixtures tests/fuzz/corpus/index
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fix=$(cd "$2" && pwd)
mkdir -p "$3"; out=$(cd "$3" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
craft=$here/craft_index
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; cd "$tmp"
"$here/mkweights" img.weights 64 1 8 4 64 1 77 49408 8
mkdir a; cp "$fix/img-rgb.png" "$fix/img-photo.jpg" "$fix/img-small.bmp" a/
"$bin" index -m img.weights base.db a 2>/dev/null
"$craft" base.db "PRAGMA journal_mode=DELETE" "PRAGMA page_size=512; VACUUM" "PRAGMA journal_mode=WAL"
"$bin" index -m img.weights base.db 2>/dev/null  # the cache, of the shrunk file
"$craft" --seed base.db base.db-vectors > "$out/valid-cached"
"$craft" --seed base.db > "$out/valid"
# seed NAME SQL...: base.db edited
seed() { name=$1; shift; cp base.db v.db; "$craft" v.db "$@"; "$craft" --seed v.db base.db-vectors > "$out/$name"; }
seed vector-short "UPDATE clippie_vectors SET vector = zeroblob(100) WHERE id = 2"
seed vector-text "UPDATE clippie_vectors SET vector = 'abc' WHERE id = 2"
seed dim-negative "UPDATE clippie_meta SET value = -5 WHERE key = 'dim'"
seed dim-zero "UPDATE clippie_meta SET value = 0 WHERE key = 'dim'; UPDATE clippie_meta SET value = '' WHERE key = 'model'; UPDATE clippie_vectors SET vector = x''"
seed generation-text "UPDATE clippie_meta SET value = 'x' WHERE key = 'generation'"
seed no-identity "DELETE FROM clippie_meta WHERE key = 'identity'"
seed shard "UPDATE clippie_meta SET value = '1/3' WHERE key = 'shard'"
seed path-nul "UPDATE clippie_files SET path = CAST('/x' || char(0) AS BLOB) WHERE id = 1"
seed root-int "UPDATE clippie_roots SET path = 7"
seed view "DROP TABLE clippie_vectors" "CREATE VIEW clippie_vectors(id, vector) AS WITH RECURSIVE r(id, vector) AS (SELECT 1, zeroblob(32) UNION ALL SELECT id + 1, vector FROM r) SELECT id, vector FROM r"
seed trigger "CREATE TRIGGER t AFTER INSERT ON clippie_files BEGIN DELETE FROM clippie_vectors; END"
seed extra-index "CREATE INDEX s ON clippie_files(size)"
