#!/bin/sh
# --draft on a phone-like HEIC: a 12 MP picture (../shared/images' soup.jpg
# upscaled to 4032 x 3024 by Pillow, bicubic) encoded by libheif's heif-enc
# (Debian's libheif-examples) at quality 80 with a 320 x 240 thumbnail
# item, then preprocessed at 224 px in full and with draft (the thumbnail):
# medians of RUNS runs (default 9), the speed-up, and the change in the
# model's input (cosine, largest absolute difference). Needs heif-enc and
# Debian's python3-pil.
#
#   sh bench/heif.sh [WORKDIR]        # default /tmp/clippie-bench-heif
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
work=${1:-/tmp/clippie-bench-heif}
runs=${RUNS:-9}
mkdir -p "$work"
cd "$top" && make -s clippie
sh "$here/link.sh" "$work/heifdraft" "$here/heifdraft.c"
cd "$work"
if [ ! -f p12.heic ]; then
    /usr/bin/python3 -c "
from PIL import Image
Image.open('$top/../shared/images/soup.jpg').convert('RGB').resize((4032, 3024), Image.BICUBIC).save('p12.jpg', quality=92)"
    heif-enc -q 80 -t 320 -o p12.heic p12.jpg >/dev/null
fi
echo "CPU: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
./heifdraft p12.heic 224 "$runs"
