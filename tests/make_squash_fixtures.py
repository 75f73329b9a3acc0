"""Makes tests/fixtures/squash.ref: the pixels OpenCLIP's squash
preprocessing (open_clip.transform, resize_mode "squash": torchvision's
Resize((R, R), BICUBIC) on the PIL image, then convert("RGB")) gives some
of the fixtures' images, as 8-bit RGB before ToTensor and Normalize (which
clippie's test applies itself). Needs Debian's python3-pil and
python3-torchvision (which calls Pillow's resize, checked here against
Pillow's own resize((R, R), BICUBIC)); no EXIF rotation, as OpenCLIP does
none. `make test` never runs this.

    python3 tests/make_squash_fixtures.py tests/fixtures

Each line: the file name, R, then the R * R * 3 bytes (row by row, RGB) in hex.
"""

import os
import sys

from PIL import Image
from torchvision import transforms

CASES = [("img-large.jpg", 224), ("img-photo.jpg", 96), ("img-photo.jpg", 37), ("img-rgb.png", 61),
         ("img-la.png", 50), ("img-grey.jpg", 33), ("img-cmyk.jpg", 29)]

out_dir = sys.argv[1]
with open(os.path.join(out_dir, "squash.ref"), "w") as f:
    for name, R in CASES:
        im = Image.open(os.path.join(out_dir, name))
        tv = transforms.Resize((R, R), interpolation=transforms.InterpolationMode.BICUBIC)(im).convert("RGB")
        pil = im.resize((R, R), Image.BICUBIC).convert("RGB")
        assert tv.tobytes() == pil.tobytes(), name
        f.write("%s %d %s\n" % (name, R, tv.tobytes().hex()))
