#!/bin/sh
# The peer: monatis/clip.cpp (with its ggml submodule) checked out of the
# fetched mirrors into a temporary folder, built there with cmake, and run
# on the same random ViT-B/32-shaped checkpoint as bench/latency.c when its
# converter can read it. Nothing of it is kept in this repository.
#
#   sh bench/clipcpp.sh [WORKDIR]     # default /tmp/clippie-clipcpp
#
# Needs the mirrors /work/.mirror/monatis+clip.cpp and ggerganov+ggml
# (fetched with the session's fetch tool; not downloaded by this script).
set -eu
work=${1:-/tmp/clippie-clipcpp}
mirror=${MIRROR:-/work/.mirror}
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
ls build/bin
