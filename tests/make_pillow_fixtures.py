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


def bmp_file(w, h, bits, pixels, palette=b"", header=40, compression=0, colors=0, masks=(), offset=None,
             dib=False, top_down=False):
    """A BMP (or, with dib, a DIB: no file header) made byte by byte: the
    info header of that size (12: OS/2 1.x), masks inside a header of 56
    bytes or more, else after it, then the palette and the pixels."""
    import struct
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header, w, -h if top_down else h, 1, bits, compression, len(pixels),
                           2835, 2835, colors, 0)
        inside = header >= 56 and masks
        info += b"".join(struct.pack("<I", m) for m in masks) if inside else b""
        info += b"\0" * (header - len(info))
        info += b"" if inside else b"".join(struct.pack("<I", m) for m in masks)
    body = info + palette
    if dib:
        return body + pixels
    off = 14 + len(body) if offset is None else offset
    return b"BM" + struct.pack("<IHHI", 14 + len(body) + len(pixels), 0, 0, off) + body + pixels


def bmp_rows(w, h, bits, value):
    """Rows bottom up of value(x, y) at that depth, each padded to 4 bytes."""
    out = b""
    for y in reversed(range(h)):
        if bits >= 8:
            row = b"".join((value(x, y) % (1 << bits)).to_bytes(bits // 8, "little") for x in range(w))
        else:
            per = 8 // bits
            row = bytes(sum(value(x, y) << (8 - bits * (k + 1)) for k, x in enumerate(range(x0, min(x0 + per, w))))
                        for x0 in range(0, w, per))
        out += row + b"\0" * (-len(row) % 4)
    return out


def bmp_palette(n, entry=4):
    """n colours, as BGR(X) entries."""
    return b"".join(bytes(((i * 37) % 256, (i * 91 + 40) % 256, (255 - i * 53) % 256, 0)[:entry]) for i in range(n))


def bmp(ref):
    """BMP and DIB: each class of file Pillow reads its own way, from 13 x 11
    pixels (upscaled at 16, downscaled at 9), and what it refuses."""
    w, h, res = 13, 11, (16, 9)
    index = lambda n: (lambda x, y: (x * 3 + y * 5) % n)  # noqa: E731
    rgb = lambda x, y: (x * 19 % 256) << 16 | (y * 23 % 256) << 8 | (x * y * 7 % 256)  # noqa: E731

    def made(name, data, words=None):
        ref.write(name, data)
        ref.refused(name, words) if words else ref.pixels(name, res)

    # palette depths, OS/2 1.x (3-byte entries) and 2.x (a 64-byte header)
    made("pal4.bmp", bmp_file(w, h, 4, bmp_rows(w, h, 4, index(16)), bmp_palette(16)))
    made("os2v1.bmp", bmp_file(w, h, 8, bmp_rows(w, h, 8, index(256)), bmp_palette(256, 3), header=12))
    made("os2v2.bmp", bmp_file(w, h, 8, bmp_rows(w, h, 8, index(256)), bmp_palette(256), header=64))
    # a palette of 20 entries and indices past them: grey (i, i, i), as Pillow fills its palette
    made("palshort.bmp", bmp_file(w, h, 8, bmp_rows(w, h, 8, index(256)), bmp_palette(20), colors=20))
    # an offset that leaves no room for the palette: Pillow puts the pixels after 4 bytes an entry
    made("paloffset.bmp", bmp_file(w, h, 8, b"\0" * 256 + bmp_rows(w, h, 8, index(256)), bmp_palette(256, 3),
                                   header=12, offset=14 + 12))
    # a grey palette is mode "L" (resized bicubic), black and white mode "1"
    grey = b"".join(bytes((i, i, i, 0)) for i in range(256))
    made("grey.bmp", bmp_file(w, h, 8, bmp_rows(w, h, 8, lambda x, y: x * 17 + y * 3), grey))
    made("mono.bmp", bmp_file(w, h, 1, bmp_rows(w, h, 1, index(2)), b"\0\0\0\0\xff\xff\xff\0"))
    # RLE8 (runs clipped at the row's end, an odd absolute run, ends of line)
    # and RLE4 top down
    rle8 = b""
    for y in range(h):
        rle8 += bytes((5, y, 20, y + 100)) + bytes((0, 3, 7, 8, 9, 0)) + bytes((0, 0))
    made("rle8.bmp", bmp_file(w, h, 8, rle8 + b"\0\1", bmp_palette(256), compression=1))
    rle4 = b""
    for y in range(h):
        rle4 += bytes((4, 0x12 + y, 0, 5, 0x34, 0x56, 0x78, 0)) + bytes((9, 0xab)) + b"\0\0"
    made("rle4.bmp", bmp_file(w, h, 4, rle4 + b"\0\1", bmp_palette(16), compression=2, top_down=True))
    # a delta: Pillow 9.4 skips its two bytes and takes the next two as right and up
    delta = bytes((6, 1, 0, 2, 3, 1, 2, 1)) + b"".join(bytes((13, y)) + b"\0\0" for y in range(h))
    made("rledelta.bmp", bmp_file(w, h, 8, delta + b"\0\1", bmp_palette(256), compression=1))
    # 16 bits, 5-5-5 raw with a palette Pillow does not use, and 5-6-5 bit fields
    made("rgb16pal.bmp", bmp_file(w, h, 16, bmp_rows(w, h, 16, lambda x, y: x * 2500 + y * 700),
                                  bmp_palette(16), colors=16))
    made("rgb16-565.bmp", bmp_file(w, h, 16, bmp_rows(w, h, 16, lambda x, y: x * 2500 + y * 700),
                                   compression=3, masks=(0xf800, 0x7e0, 0x1f)))
    # 32 bits: the fourth byte of a raw pixel is not alpha; bit fields with alpha are RGBA
    made("rgb32x.bmp", bmp_file(w, h, 32, bmp_rows(w, h, 32, lambda x, y: rgb(x, y) | (x * 20) << 24)))
    made("rgba32.bmp", bmp_file(w, h, 32, bmp_rows(w, h, 32, lambda x, y: rgb(x, y) | (x * 20) << 24),
                                header=124, compression=3, masks=(0xff0000, 0xff00, 0xff, 0xff000000)))
    # a DIB: the info header first, told by its size
    made("dib24.dib", bmp_file(w, h, 24, bmp_rows(w, h, 24, rgb), dib=True))
    # refused, as Pillow refuses them
    full = bmp_file(w, h, 24, bmp_rows(w, h, 24, rgb))
    made("short.bmp", full[:-40], "truncated BMP")
    made("rleshort.bmp", bmp_file(w, h, 8, rle8[:40] + b"\0\1", bmp_palette(256), compression=1), "truncated BMP")
    made("rle24.bmp", bmp_file(w, h, 24, rle8 + b"\0\1", compression=1), "RLE")
    made("rgba4444.bmp", bmp_file(w, h, 16, bmp_rows(w, h, 16, lambda x, y: x * 2500), compression=3,
                                  header=108, masks=(0xf00, 0xf0, 0xf, 0xf000)), "bit fields")
    made("jpeg.bmp", bmp_file(w, h, 24, b"\xff\xd8\xff\xd9", compression=4), "compression 4")
    made("pal300.bmp", bmp_file(w, h, 8, bmp_rows(w, h, 8, index(256)), bmp_palette(300), colors=300), "palette")
    made("bits2.bmp", bmp_file(w, h, 2, bmp_rows(w, h, 2, index(4)), bmp_palette(4)), "bits a pixel")


def tiff_file(entries, data, big_endian=False):
    """A TIFF of one IFD (entries: (tag, type, values), type 3 SHORT or 4
    LONG, sorted as given) after its pixel data; StripOffsets is made 8."""
    import struct
    e = ">" if big_endian else "<"
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", 8 + len(data))
    ifd = struct.pack(e + "H", len(entries))
    for tag, typ, values in entries:
        values = [8] if tag == 273 else values
        raw = b"".join(struct.pack(e + ("H" if typ == 3 else "I"), v) for v in values)
        assert len(raw) <= 4, tag
        ifd += struct.pack(e + "HHI", tag, typ, len(values)) + raw.ljust(4, b"\0")
    return head + data + ifd + b"\0\0\0\0"


def tiff_pixels_as(ref, name, other, res):
    """Records for NAME what Pillow makes of OTHER (the same picture in a
    mode Pillow can resize)."""
    from PIL import Image
    with Image.open(ref.path(other)) as im:
        px = clipref.preprocess(res)(im)
    ref.lines.append("pil-%s-%s %d %s\n" % (ref.section, name, res,
                                             " ".join("%.9g" % v for v in px.flatten().tolist())))


def tiff_jpeg_with_exif(ref, name, exif, **save):
    """A JPEG Pillow writes, with the APP1 block exif added after its first
    block (SOI, and JFIF's APP0 when it writes one)."""
    import io
    from PIL import Image
    im = Image.new("RGB", (24, 20))
    im.putdata([(x * 10, y * 12, (x * y) % 256) for y in range(20) for x in range(24)])
    b = io.BytesIO()
    im.save(b, "JPEG", quality=90, **save)
    j = b.getvalue()
    at = 2 + (2 + int.from_bytes(j[4:6], "big") if j[2:4] == b"\xff\xe0" else 0)
    seg = b"Exif\0\0" + exif
    return ref.write(name, j[:at] + b"\xff\xe1" + (len(seg) + 2).to_bytes(2, "big") + seg + j[at:])


def tiff(ref):
    """TIFF, WebP, JPEG and MPO."""
    import struct
    import zlib
    from PIL import Image
    w, h = 32, 40  # Resize(32) leaves 32 x 40 as it is: only the crop, which Pillow can do in any mode

    # 16-bit grey, Pillow's "I;16": kept whole, clamped to 0..255 by the
    # conversion to RGB; Pillow cannot resize it, so the resized one is
    # compared with its mode "I" copy, which it can
    grey = [(x * 37 + y * 11) % 700 for y in range(h) for x in range(w)]
    im = Image.new("I;16", (w, h))
    im.putdata(grey)
    im.save(ref.path("grey16.tif"))
    ref.pixels("grey16.tif", res=(32,))
    im = Image.new("I;16", (48, 40))
    im.putdata([(x * 29 + y * 13) % 600 for y in range(40) for x in range(48)])
    im.save(ref.path("grey16-resized.tif"))
    im.convert("I").save(ref.path("grey16-as-i.tif"))
    for r in (32, 21):
        tiff_pixels_as(ref, "grey16-resized.tif", "grey16-as-i.tif", r)

    # 32-bit signed ints (Pillow's "I", resized in 32 bits), 16-bit signed
    # ones (byte by byte: Pillow writes none), 32-bit floats ("F", truncated)
    im = Image.new("I", (48, 40))
    im.putdata([(x * 31 + y * 17) % 900 for y in range(40) for x in range(48)])
    im.save(ref.path("int32.tif"))
    ref.pixels("int32.tif")
    vals = [(x * 23 + y * 7) % 500 for y in range(h) for x in range(w)]
    ref.write("int16s.tif", tiff_file([(256, 3, [w]), (257, 3, [h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [1]),
                                       (273, 4, [0]), (277, 3, [1]), (278, 3, [h]), (279, 4, [2 * w * h]),
                                       (339, 3, [2])], struct.pack(">%dh" % (w * h), *vals), big_endian=True))
    ref.pixels("int16s.tif", res=(32,))
    im = Image.new("F", (w, h))
    im.putdata([(x * 9.37 + y * 3.1) % 310 - 5 for y in range(h) for x in range(w)])
    im.save(ref.path("float.tif"))
    ref.pixels("float.tif", res=(32,))

    # CIELab to sRGB by LittleCMS, as Pillow converts it (after its resize:
    # same pixels when there is none); palette + alpha, Pillow's "PA"
    im = Image.new("RGB", (w, h))
    im.putdata([(x * 8, y * 6, 255 - x * 4) for y in range(h) for x in range(w)])
    im.convert("LAB").save(ref.path("lab.tif"))
    ref.pixels("lab.tif", res=(32,))
    im = Image.new("PA", (w, h))
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (i * 7) % 256)])
    im.putdata([((x * 5 + y) % 256, (x * 8) % 256) for y in range(h) for x in range(w)])
    im.save(ref.path("pa.tif"))
    ref.pixels("pa.tif", res=(32,))

    # RGB of 4 samples without an ExtraSamples tag: Pillow's RGBA (libtiff
    # calls the fourth unspecified); a width given twice: Pillow refuses it
    px = bytes(v for y in range(20) for x in range(24) for v in (x * 10, y * 12, 200, (x * 11 + y * 5) % 256))
    ref.write("rgba-noextra.tif", tiff_file([(256, 3, [24]), (257, 3, [20]), (258, 3, [8]), (259, 3, [1]),
                                             (262, 3, [2]), (273, 4, [0]), (277, 3, [4]), (278, 3, [20]),
                                             (279, 4, [len(px)])], px))
    ref.pixels("rgba-noextra.tif")
    z = zlib.compress(bytes((x * 9 + y) % 256 for y in range(20) for x in range(24)))
    ref.write("width-twice.tif", tiff_file([(256, 3, [24]), (256, 3, [30]), (257, 3, [20]), (258, 3, [8]),
                                            (259, 3, [8]), (262, 3, [1]), (273, 4, [0]), (277, 3, [1]),
                                            (278, 3, [20]), (279, 4, [len(z)])], z))
    ref.refused("width-twice.tif", "has tag 256 twice")

    # JPEG: an EXIF block of 7 bytes of TIFF header fails Pillow's open,
    # unless a JFIF block gave dots per inch before it
    tiff_jpeg_with_exif(ref, "exif-short.jpg", b"MM\0*\0\0\0")
    ref.refused("exif-short.jpg", "EXIF block is cut short")
    tiff_jpeg_with_exif(ref, "exif-short-dpi.jpg", b"MM\0*\0\0\0", dpi=(72, 72))
    ref.pixels("exif-short-dpi.jpg")


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
