#!/bin/sh
# No two modules include each other in a circle: every `#include "Y.h"` in
# X.c or X.h is an edge X -> Y between modules (a file's base name), and
# tsort refuses a graph with a loop, naming the modules on it. Run by make
# test over the sources (tests/ and bench/ are users, not modules).
cd "$(dirname "$0")/.."
edges=$(for f in *.[ch] */*.[ch]; do
    case $f in tests/* | bench/* | tools/*) continue ;; esac
    from=$(basename "${f%.*}")
    sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
        to=$(basename "$to")
        [ "$to" = "$from" ] || echo "$from $to"
    done
done)
if loop=$(echo "$edges" | tsort 2>&1 >/dev/null) && [ -z "$loop" ]; then
    echo "includes: 1 passed, 0 failed ($(echo "$edges" | wc -l) edges, no circle)"
else
    echo "$loop" | sed 's/^tsort: -: /includes: /; s/^tsort: /  /'
    echo "includes: 0 passed, 1 failed"
    exit 1
fi
