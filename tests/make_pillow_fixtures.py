"""Makes the committed fixtures for the odd files of Pillow's own test
corpus (issue: the same pixels as Pillow), with Debian's python3-pil:

    /usr/bin/python3 tests/make_pillow_fixtures.py tests/fixtures [SECTION...]

Each section makes small files of one family, every one made here (written
by Pillow, or byte by byte where Pillow writes no such file; nothing is
copied from Pillow's corpus), named pil-SECTION-*, and writes
pillow-SECTION.ref, which test_image reads: a line "NAME RES FLOAT..." holds
the pixels Pillow + CLIP's transform make of NAME at RES, a line
"NAME - WORDS" says Pillow refuses NAME and our error must hold WORDS."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipref  # noqa: E402


class Ref:
    """One section's reference file."""

    def __init__(self, out, section):
        self.out, self.section, self.lines = out, section, []

    def path(self, name):
        return os.path.join(self.out, f"pil-{self.section}-{name}")

    def write(self, name, data):
        """Writes bytes made by hand as pil-SECTION-NAME; returns its path."""
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def pixels(self, name, res=(32, 21)):
        """Records what Pillow + CLIP's transform make of the file."""
        from PIL import Image
        for r in res:
            with Image.open(self.path(name)) as im:
                px = clipref.preprocess(r)(im)
            self.lines.append("pil-%s-%s %d %s\n" % (self.section, name, r,
                                                     " ".join("%.9g" % v for v in px.flatten().tolist())))

    def refused(self, name, words):
        """Records that Pillow refuses the file (checked here) and the words our error must hold."""
        from PIL import Image
        try:
            with Image.open(self.path(name)) as im:
                im.load()
                im.convert("RGB")
        except Exception:
            self.lines.append(f"pil-{self.section}-{name} - {words}\n")
            return
        raise SystemExit(f"{name}: Pillow opens it")

    def save(self):
        with open(os.path.join(self.out, f"pillow-{self.section}.ref"), "w") as f:
            f.writelines(self.lines)


def png_pixels(w, h, c, seed):
    """w x h pixels of c bytes: smooth ramps with a little noise, so that
    every resize weight shows."""
    import numpy as np
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    ramps = [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1) + 64, 255 - x * 9]
    px = np.stack([ramps[k % 4] for k in range(c)], axis=-1) + rng.integers(-20, 21, (h, w, c))
    return np.clip(px, 0, 255).astype(np.uint8)


def png_tga_header(kind, w, h, depth, flags, cmap=None, id_field=b""):
    """TGA's 18 bytes; cmap: (first entry, entries, bits an entry)."""
    import struct
    first, n, bits = cmap or (0, 0, 0)
    return struct.pack("<BBBHHBHHHHBB", len(id_field), 1 if cmap else 0, kind, first, n, bits, 0, 0, w, h,
                       depth, flags) + id_field


def png_tga_rle(pixels, bpp, w):
    """Run-length packets over the whole pixel stream: repeats as runs
    within a row of w (Pillow refuses a run into the next row), the rest as
    packets of up to 128 pixels, which may cross rows."""
    out, i, n = bytearray(), 0, len(pixels) // bpp
    px = [bytes(pixels[k * bpp:(k + 1) * bpp]) for k in range(n)]
    while i < n:
        run = 1
        while i + run < n and run < 128 and px[i + run] == px[i] and (i + run) % w:
            run += 1
        if run > 1:
            out += bytes([0x80 | (run - 1)]) + px[i]
            i += run
            continue
        lit = 1
        while i + lit < n and lit < 128 and px[i + lit] != px[i + lit - 1]:
            lit += 1
        out += bytes([lit - 1]) + b"".join(px[i:i + lit])
        i += lit
    return bytes(out)


def png_tga(ref):
    """TGA: what Pillow writes (grey + alpha run-length encoded from the
    bottom row, RGBA from the top), and by hand what it does not: a
    16-bit colour map from entry 5 to 20 (pixels before and after it too),
    rows right to left from the top, packets crossing rows; 16-bit true
    colour from the bottom right; a file cut short and one whose run
    crosses a row, which Pillow refuses."""
    import numpy as np
    from PIL import Image
    Image.fromarray(png_pixels(13, 9, 2, 1), "LA").save(ref.path("tga-la-rle.tga"), compression="tga_rle")
    ref.pixels("tga-la-rle.tga")
    Image.fromarray(png_pixels(9, 13, 4, 2), "RGBA").save(ref.path("tga-rgba-top.tga"), orientation=1)
    ref.pixels("tga-rgba-top.tga")
    w, h = 11, 7
    idx = (png_pixels(w, h, 1, 3)[:, :, 0] // 10).astype(np.uint8)  # 0..25: some before the map, some after
    idx[2:4, 3:] = 9  # runs to the end of a row
    cmap = np.arange(16 * 2, dtype="<u2").reshape(16, 2)
    entries = ((cmap[:, 0] * 977 + 12345) & 0x7fff).astype("<u2").tobytes()
    ref.write("tga-p16-right.tga", png_tga_header(9, w, h, 8, 0x30, (5, 16, 16), b"clippie") + entries +
              png_tga_rle(idx.tobytes(), 1, w))
    ref.pixels("tga-p16-right.tga")
    rgb16 = ((png_pixels(w, h, 1, 4)[:, :, 0].astype("<u2") * 131 + 7) & 0xffff).astype("<u2")
    ref.write("tga-rgb16-bottom-right.tga", png_tga_header(2, w, h, 16, 0x10) + rgb16.tobytes())
    ref.pixels("tga-rgb16-bottom-right.tga")
    data = png_tga_header(10, w, h, 24, 0) + png_tga_rle(png_pixels(w, h, 3, 5).tobytes(), 3, w)
    ref.write("tga-truncated.tga", data[:-7])
    ref.refused("tga-truncated.tga", "truncated TGA")
    ref.write("tga-run-across.tga", png_tga_header(11, w, h, 8, 0) + bytes([0x80 | (w + 1), 77]) +
              png_tga_rle(bytes(range(w * h - w - 2)), 1, w))
    ref.refused("tga-run-across.tga", "crosses the end of row 0")


def png_png(ref):
    """PNG: 1-bit grey (Pillow's mode "1", resized with nearest neighbour);
    grey and RGB with a tRNS colour, which Pillow keeps apart (the image
    stays "L" or "RGB", resized with no alpha)."""
    from PIL import Image
    grey = png_pixels(13, 9, 1, 6)[:, :, 0]
    Image.fromarray(grey).convert("1").save(ref.path("1bit-trns.png"), transparency=0)
    ref.pixels("1bit-trns.png")
    Image.fromarray(grey).save(ref.path("l-trns.png"), transparency=int(grey[4, 6]))
    ref.pixels("l-trns.png")
    rgb = png_pixels(9, 13, 3, 7)
    Image.fromarray(rgb).save(ref.path("rgb-trns.png"), transparency=tuple(int(v) for v in rgb[5, 3]))
    ref.pixels("rgb-trns.png")


def png_lzw(indices, bits, bad_at=None):
    """GIF image data: LZW codes of bits + 1 bits, one a pixel, with a clear
    code before the table would need wider ones; in sub-blocks. bad_at: a
    code past the next free one before that pixel."""
    clear, codes, acc, nacc, out = 1 << bits, [], 0, 0, bytearray()
    for k, v in enumerate(indices):
        if k % (clear - 2) == 0:
            codes.append(clear)
        if k == bad_at:
            codes.append(clear + 2 + k % (clear - 2) + 1)
        codes.append(v)
    codes.append(clear + 1)
    for c in codes:
        acc |= c << nacc
        nacc += bits + 1
        while nacc >= 8:
            out.append(acc & 255)
            acc >>= 8
            nacc -= 8
    if nacc:
        out.append(acc)
    data = bytes([bits])
    for k in range(0, len(out), 255):
        data += bytes([len(out[k:k + 255])]) + out[k:k + 255]
    return data + b"\0"


def png_gif(screen, frame, indices, table=None, trans=None, interlace=False, own=None, bits=4, bad_at=None):
    """A GIF of one frame (x, y, w, h) on a screen (w, h): table, the global
    colour table (RGB bytes); own, the frame's; trans, its transparent index."""
    import struct

    def flag(t):
        return 0x80 | (len(t) // 3).bit_length() - 2 if t else 0
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, flag(table), 0, 0) + (table or b"")
    if trans is not None:
        out += b"!\xf9\x04" + bytes([1, 0, 0, trans, 0])
    out += b"," + struct.pack("<HHHHB", *frame, flag(own) | (0x40 if interlace else 0)) + (own or b"")
    return out + png_lzw(indices, bits, bad_at) + b";"


def png_gifs(ref):
    """GIF's first frame as Pillow opens it, made by hand: a frame at an
    offset on a larger screen (filled with the transparent index, whose
    colour shows, as Pillow does not compose the frame), with indices past
    its table; interlaced with no colour table (mode "L", resized with
    bicubic); data cut short; a code past the next free one."""
    table = bytes(png_pixels(12, 1, 3, 8).flatten())
    idx = png_pixels(7, 5, 1, 9)[:, :, 0] // 17  # 0..15, past the table's 12
    ref.write("gif-offset-trans.gif", png_gif((11, 9), (3, 2, 7, 5), idx.flatten(), table, trans=5))
    ref.pixels("gif-offset-trans.gif")
    grey = png_pixels(9, 13, 1, 10)[:, :, 0] // 16
    rows = [r for start, step in ((0, 8), (4, 8), (2, 4), (1, 2)) for r in range(start, 13, step)]
    ref.write("gif-grey-interlaced.gif", png_gif((9, 13), (0, 0, 9, 13), grey[rows].flatten(), interlace=True))
    ref.pixels("gif-grey-interlaced.gif")
    whole = png_gif((9, 13), (0, 0, 9, 13), grey.flatten(), table)
    ref.write("gif-truncated.gif", whole[:len(whole) // 2])
    ref.refused("gif-truncated.gif", "truncated GIF")
    ref.write("gif-bad-code.gif", png_gif((9, 13), (0, 0, 9, 13), grey.flatten(), table, bad_at=20))
    ref.refused("gif-bad-code.gif", "past the next free one")


def png_pnm(ref):
    """PBM, PGM, PPM as Pillow opens them: bitmaps plain (bits with no
    space between, comments) and raw, written by Pillow (mode "1", nearest
    neighbour); 16-bit grey raw (Pillow's) and plain with a maximum of 1000
    (mode "I"); colour plain with a maximum of 6 (scaled with halves to
    even) and raw with 2-byte samples, one over the maximum (clipped); and
    what Pillow refuses: a plain sample over the maximum, a raw file cut
    short, a plain bitmap holding a 2."""
    from PIL import Image
    bits = png_pixels(13, 9, 1, 11)[:, :, 0] > 128
    rows = ["".join("1" if v else "0" for v in row) for row in bits]
    ref.write("pnm-plain.pbm", b"P1\n# made by clippie\n13 9\n" + "\n".join(rows).encode() + b"\n")
    ref.pixels("pnm-plain.pbm")
    Image.fromarray(~bits).save(ref.path("pnm-raw.pbm"))
    ref.pixels("pnm-raw.pbm")
    grey = png_pixels(9, 13, 1, 12)[:, :, 0].astype("int32") * 2
    Image.fromarray(grey.astype("int32"), "I").save(ref.path("pnm-raw16.pgm"))
    ref.pixels("pnm-raw16.pgm")
    text = " ".join(str(v) for v in grey.flatten() + 480).encode()  # up to 990
    ref.write("pnm-plain16.pgm", b"P2 9 13\n1000\n# a comment between samples\n" + text + b"\n")
    ref.pixels("pnm-plain16.pgm")
    rgb = png_pixels(11, 7, 3, 13) // 40  # 0..6
    ref.write("pnm-plain.ppm", b"P3\n11 7 6\n" + " ".join(str(v) for v in rgb.flatten()).encode())
    ref.pixels("pnm-plain.ppm")
    wide = png_pixels(7, 11, 3, 14).astype(">u2") * 4
    wide[0, 0, 0] = 1001
    ref.write("pnm-raw16.ppm", b"P6 7 11 1000\n" + wide.tobytes())
    ref.pixels("pnm-raw16.ppm")
    ref.write("pnm-over-max.pgm", b"P2 2 1 100 50 101\n")
    ref.refused("pnm-over-max.pgm", "over the maximum value")
    ref.write("pnm-truncated.ppm", b"P6 7 11 1000\n" + wide.tobytes()[:-3])
    ref.refused("pnm-truncated.ppm", "truncated PNM")
    ref.write("pnm-two.pbm", b"P1 2 2 0120")
    ref.refused("pnm-two.pbm", "bad PBM")


def png_chunk(kind, data):
    import struct
    import zlib
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(chunks, after=b""):
    """A small RGB PNG written by Pillow, with chunks put before its image
    data and after (before IEND)."""
    import io
    from PIL import Image
    f = io.BytesIO()
    Image.fromarray(png_pixels(13, 9, 3, 15)).save(f, "PNG")
    b = f.getvalue()
    at, end = b.index(b"IDAT") - 4, len(b) - 12
    return b[:at] + chunks + b[at:end] + after + b[end:]


def png_chunks(ref):
    """What Pillow checks of a PNG's chunks: text that inflates to just
    under 1 MiB (opened) and over it (refused, a decompression bomb), a
    zTXt of an unknown compression method, a chunk before the image data
    whose CRC fails, an APNG whose fdAT comes with no fcTL before it, and
    one whose repeated fcTL Pillow does not read."""
    import struct
    import zlib
    big = b"k\0\0" + zlib.compress(b"a" * 1000000, 9)
    ref.write("png-text-1mb.png", png_with(png_chunk(b"zTXt", big)))
    ref.pixels("png-text-1mb.png")
    ref.write("png-text-bomb.png", png_with(png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 1100000, 9))))
    ref.refused("png-text-bomb.png", "inflates to over 1 MiB")
    ref.write("png-text-method.png", png_with(png_chunk(b"zTXt", b"k\0\1" + zlib.compress(b"text"))))
    ref.refused("png-text-method.png", "unknown compression method 1")
    bad = bytearray(png_chunk(b"tEXt", b"Comment\0made by clippie"))
    bad[-1] ^= 1
    ref.write("png-bad-crc.png", png_with(bytes(bad)))
    ref.refused("png-bad-crc.png", "tEXt chunk fails its CRC")
    actl = png_chunk(b"acTL", struct.pack(">II", 1, 0))
    fdat = png_chunk(b"fdAT", b"\0\0\0\0" + zlib.compress(bytes(13 * 9 * 3 + 9)))
    ref.write("apng-no-fctl.png", png_with(actl, fdat))
    ref.refused("apng-no-fctl.png", "fdAT chunk is out of sequence")
    # the IDAT image, with no fcTL before it, makes this an animation of two
    # frames: Pillow stops at the next fcTL and never sees the repeated one
    fctl = png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 13, 9, 0, 0, 1, 10, 0, 0))
    ref.write("apng-default-image.png", png_with(actl, fctl + fctl))
    ref.pixels("apng-default-image.png")


def png(ref):
    """PNG, GIF, PNM, TGA."""
    png_png(ref)
    png_chunks(ref)
    png_gifs(ref)
    png_pnm(ref)
    png_tga(ref)


def bmp(ref):
    """BMP and DIB."""


def tiff(ref):
    """TIFF, WebP, JPEG and MPO."""


SECTIONS = {"png": png, "bmp": bmp, "tiff": tiff}


def main():
    out = sys.argv[1]
    for name in sys.argv[2:] or SECTIONS:
        ref = Ref(out, name)
        SECTIONS[name](ref)
        if ref.lines:
            ref.save()


if __name__ == "__main__":
    main()
