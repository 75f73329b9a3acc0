"""Makes tests/fixtures/resample.ref, which test_resample reads: what
Pillow's Image.resize(size, BICUBIC) and crop make of small random images
of each mode clippie resizes, with Debian's python3-pil (9.4):

    /usr/bin/python3 tests/make_resample_fixtures.py tests/fixtures/resample.ref

The file is a run of cases, each nine little-endian uint32 and two pixel
blocks:
    kind w h nw nh left top R c  (kind: 0 plain, 1 palette, 2 grey16, 3 CMYK;
                                  c: samples a pixel of the input)
    w * h * c input samples (2 bytes each, little-endian, for grey16)
    R * R * c output bytes (c = 1 for grey16: Pillow's "I" to "L", clamped)
Palette images are given as the RGB their palette makes, which is what
clippie's decoders hand over; Pillow resizes mode "P" with NEAREST."""

import random
import struct
import sys

from PIL import Image

MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}

# (mode, w, h, nw, nh, left, top, R): down both ways, up, one axis only, thin
SIZES = [(37, 29, 13, 10, 1, 0, 10), (23, 31, 12, 16, 0, 2, 12), (5, 7, 16, 22, 0, 3, 16),
         (40, 9, 20, 9, 5, 0, 9), (9, 40, 9, 20, 0, 5, 9), (64, 3, 40, 2, 19, 0, 2), (17, 17, 17, 17, 0, 0, 17)]


def random_image(rng, mode, w, h):
    """A w x h image of mode with random samples; RGBA and LA get alpha 0
    and 255 among the rest, the cases premultiplying must get right."""
    c = MODES[mode]
    data = bytearray(rng.randrange(256) for _ in range(w * h * c))
    if mode in ("RGBA", "LA"):
        for p in range(0, len(data), c):
            data[p + c - 1] = rng.choice([0, 255, rng.randrange(256)])
    return Image.frombytes(mode, (w, h), bytes(data)), bytes(data)


def case(out, kind, c, size, data, result):
    w, h, nw, nh, left, top, r = size
    out.write(struct.pack("<8I", kind, w, h, nw, nh, left, top, r))
    out.write(struct.pack("<I", c))
    out.write(data)
    out.write(result)


def crop(im, size):
    w, h, nw, nh, left, top, r = size
    return im.resize((nw, nh), Image.BICUBIC).crop((left, top, left + r, top + r))


def main(path):
    rng = random.Random(24)
    with open(path, "wb") as out:
        for size in SIZES:
            for mode in MODES:
                im, data = random_image(rng, mode, size[0], size[1])
                case(out, 3 if mode == "CMYK" else 0, MODES[mode], size, data, crop(im, size).tobytes())
            # palette: 16 random colours
            im = Image.new("P", size[:2])
            im.putpalette(bytes(rng.randrange(256) for _ in range(48)))
            im.putdata([rng.randrange(16) for _ in range(size[0] * size[1])])
            rgb = im.convert("RGB").tobytes()
            case(out, 1, 3, size, rgb, crop(im, size).convert("RGB").tobytes())
            # 16-bit grey around 0..255, where the clamp and the rounding both show
            grey = [rng.randrange(300) for _ in range(size[0] * size[1])]
            raw = struct.pack(f"<{len(grey)}H", *grey)
            im = Image.frombytes("I;16", size[:2], raw).convert("I")
            case(out, 2, 1, size, raw, crop(im, size).convert("L").tobytes())


if __name__ == "__main__":
    main(sys.argv[1])
