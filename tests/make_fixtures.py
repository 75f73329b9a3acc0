"""Makes the committed test fixtures with Debian's python3-torch:

    python3 tests/make_fixtures.py tests/fixtures      # small models + reference outputs
    python3 tests/make_fixtures.py --b32 OUT.pt [REF [PHOTO...]]   # random ViT-B/32-shaped TorchScript
                                                                   # checkpoint, its reference outputs
    python3 tests/make_fixtures.py --shape l14-336 OUT.pt          # likewise b16, l14, l14-336
    python3 tests/make_fixtures.py --images tests/fixtures         # only the img-* files and images.ref

Reference outputs come from PyTorch's float32 forward pass (tests/clipref.py)
on exactly the values the checkpoint stores. `make test` reads only what this
wrote; it never needs torch."""

import os
import pickle
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipref  # noqa: E402

TINY = dict(embed=32, res=32, v_layers=2, v_width=64, patch=8, context=16, vocab=512, t_width=64, t_layers=2)
ODD = dict(embed=48, res=21, v_layers=1, v_width=128, patch=7, context=12, vocab=300, t_width=128, t_layers=1, gelu=True)
MICRO = dict(embed=8, res=8, v_layers=1, v_width=64, patch=4, context=4, vocab=16, t_width=64, t_layers=1)
B32 = dict(embed=512, res=224, v_layers=12, v_width=768, patch=32, context=77, vocab=49408, t_width=512, t_layers=12)
RELEASED = {
    "b32": B32,
    "b16": dict(B32, patch=16),
    "l14": dict(embed=768, res=224, v_layers=24, v_width=1024, patch=14, context=77, vocab=49408, t_width=768,
                t_layers=12),
    "l14-336": dict(embed=768, res=336, v_layers=24, v_width=1024, patch=14, context=77, vocab=49408, t_width=768,
                    t_layers=12),
}


def texts_for(cfg, gen):
    """Token sequences as the tokenizer makes them: SOT first, EOT (the largest id) last."""
    V, C = cfg["vocab"], cfg["context"]
    out = []
    for n in (2, 3, C // 2, C - 1, C):
        mid = torch.randint(1, V - 2, (n - 2,), generator=gen).tolist()
        out.append([V - 2] + mid + [V - 1])
    return out


def save_jit(model, ids, path):
    image = torch.zeros(1, 3, model.visual_res, model.visual_res)
    text = torch.tensor([ids + [0] * (model.context_length - len(ids))])
    traced = torch.jit.trace(model, (image, text), check_trace=False)
    halves = clipref.half_names(model)
    for name, p in traced.named_parameters():
        if name in halves:
            p.data = p.data.half()
    traced.save(path)


def reference(model, cfg, gen, path, photos=()):
    """Writes the inputs and PyTorch's outputs as text the C test parses;
    photos are image files embedded through CLIP's published preprocess."""
    texts = texts_for(cfg, gen)
    images = torch.rand(3, 3, cfg["res"], cfg["res"], generator=gen) * 4 - 2
    with torch.no_grad():
        C = cfg["context"]
        t = torch.tensor([ids + [0] * (C - len(ids)) for ids in texts])
        tv = model.encode_text(t)
        iv = model.encode_image(images)
    with open(path, "w") as f:
        for ids, v in zip(texts, tv):
            f.write("text %d %s\n" % (len(ids), " ".join(map(str, ids))))
            f.write("out %d %s\n" % (len(v), " ".join("%.9g" % x for x in v.tolist())))
        for im, v in zip(images, iv):
            f.write("image %d %s\n" % (im.numel(), " ".join("%.9g" % x for x in im.flatten().tolist())))
            f.write("out %d %s\n" % (len(v), " ".join("%.9g" % x for x in v.tolist())))
        from PIL import Image
        for p in photos:
            with torch.no_grad():
                v = model.encode_image(clipref.preprocess(cfg["res"])(Image.open(p)).unsqueeze(0))[0]
            f.write("photo %s\n" % os.path.abspath(p))
            f.write("out %d %s\n" % (len(v), " ".join("%.9g" % x for x in v.tolist())))
    return texts


def images(out):
    """Small synthetic images of every mode and several formats, and the
    pixels CLIP's preprocess makes of them at 32 and 21 pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(4)

    def smooth(h, w, c):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * (i + 3) + y * (7 - i)) % 256 for i in range(c)], -1)
        return np.clip(base + rng.normal(0, 25, (h, w, c)), 0, 255).astype(np.uint8)

    made = {
        "rgb.png": Image.fromarray(smooth(37, 45, 3)),
        "tall.png": Image.fromarray(smooth(90, 31, 3)),
        "exact.png": Image.fromarray(smooth(32, 32, 3)),
        "grey.png": Image.fromarray(smooth(50, 40, 1)[:, :, 0]),
        "rgba.png": Image.fromarray(smooth(30, 50, 4)),
        "la.png": Image.fromarray(smooth(44, 41, 2), "LA"),
        "palette.png": Image.fromarray(smooth(47, 33, 3)).quantize(16),
        "small.bmp": Image.fromarray(smooth(20, 28, 3)),
        "photo.jpg": Image.fromarray(smooth(48, 64, 3)),
        "grey.jpg": Image.fromarray(smooth(60, 48, 1)[:, :, 0]),
        "cmyk.jpg": Image.fromarray(smooth(40, 52, 3)).convert("CMYK"),
        "progressive.jpg": Image.fromarray(smooth(45, 60, 3)),
        "large.jpg": Image.fromarray(smooth(480, 640, 3)).resize((640, 480), Image.BICUBIC),
        "first.gif": Image.fromarray(smooth(36, 44, 3)).quantize(64),
        "rgb.ppm": Image.fromarray(smooth(26, 39, 3)),
        "rgb.webp": Image.fromarray(smooth(38, 46, 3)),
        "rgba.webp": Image.fromarray(smooth(29, 35, 4)),
    }
    options = {"rgb.webp": dict(quality=80), "rgba.webp": dict(lossless=True)}
    lines = []

    def record(name, res, px):
        lines.append("img-%s %d %s\n" % (name, res, " ".join("%.9g" % v for v in px.flatten().tolist())))

    for name, im in made.items():
        if name.endswith(".jpg"):
            im.save(f"{out}/img-{name}", quality=92, progressive=name.startswith("progressive"))
        else:
            im.save(f"{out}/img-{name}", **options.get(name, {}))
        for res in (32, 21):
            record(name, res, clipref.preprocess(res)(Image.open(f"{out}/img-{name}")))
    # JPEGs stored turned: every EXIF orientation, checked against
    # Pillow's exif_transpose before the published preprocess
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        name = f"orient{o}.jpg"
        made["photo.jpg"].save(f"{out}/img-{name}", quality=92, exif=exif.tobytes())
        record(name, 32, clipref.preprocess(32, exif=True)(Image.open(f"{out}/img-{name}")))
    # WebP (libwebp, as in Pillow): EXIF orientations, and an animation's first frame
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        name = f"orient{o}.webp"
        made["rgb.webp"].save(f"{out}/img-{name}", quality=80, exif=exif.tobytes())
        record(name, 32, clipref.preprocess(32, exif=True)(Image.open(f"{out}/img-{name}")))
    frames = [Image.fromarray(smooth(30, 40, 3)) for _ in range(3)]
    frames[0].save(f"{out}/img-anim.webp", save_all=True, append_images=frames[1:], duration=100, quality=80)
    record("anim.webp", 32, clipref.preprocess(32)(Image.open(f"{out}/img-anim.webp")))
    tiffs(out, smooth, record)
    heifs(out, smooth, record)
    dng(f"{out}/img-cfa.dng", smooth(48, 64, 1)[:, :, 0])
    pngs16(out, smooth, record)
    preview_dng(out, smooth)
    with open(f"{out}/images.ref", "w") as f:
        f.writelines(lines)


def pngs16(out, smooth, record):
    """16-bit PNGs: grey, which Pillow 9.4 opens as mode "I" and resizes in
    32-bit ints, then clamps to 0..255 going to RGB (so values of 0..600
    keep both sides of the clamp), and RGB, of which it keeps the high bytes
    (written by hand: Pillow writes no 16-bit RGB PNG)."""
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    grey = smooth(33, 43, 1)[:, :, 0].astype(np.uint16) * 2 + smooth(33, 43, 1)[:, :, 0] % 90
    Image.fromarray(grey).save(f"{out}/img-grey16.png")
    rgb = (smooth(27, 35, 3).astype(">u2") << 8) | smooth(27, 35, 3)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + row.tobytes() for row in rgb)
    with open(f"{out}/img-rgb16.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 35, 27, 16, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    for name in ("grey16.png", "rgb16.png"):
        for res in (32, 21):
            record(name, res, clipref.preprocess(res)(Image.open(f"{out}/img-{name}")))


def dng(path, grey, preview=None):
    """A minimal DNG LibRaw reads: one uncompressed 16-bit strip of an RGGB
    Bayer mosaic, identity colour matrix, Orientation 6; with preview (JPEG
    bytes of 32 x 24 pixels), that in IFD0 and the mosaic in its SubIFD, as
    cameras store them. Not a reference: LibRaw is not Pillow's pipeline."""
    import struct

    h, w = grey.shape
    data = (grey.astype("<u2") * 16 + 500).tobytes()
    types = {1: "B", 2: "s", 3: "H", 4: "I", 10: "ii"}

    def entry(tag, typ, vals):
        if typ == 2:
            vals = vals.encode() + b"\0"
            return tag, typ, len(vals), vals
        b = b"".join(struct.pack("<" + types[typ], *(v if typ == 10 else (v,))) for v in vals)
        return tag, typ, len(vals), b

    def ifd(entries, at, patch):
        """The IFD at offset at, its values after it; patch: tag -> value bytes."""
        values_at = at + 2 + 12 * len(entries) + 4
        values, offsets = b"", {}
        for tag, typ, count, b in entries:
            if len(b) > 4:
                offsets[tag] = values_at + len(values)
                values += b + b"\0" * (len(b) % 2)
        out = struct.pack("<H", len(entries))
        for tag, typ, count, b in entries:
            b = patch.get(tag, b)
            out += struct.pack("<HHI", tag, typ, count) + (struct.pack("<I", offsets[tag]) if len(b) > 4 else b.ljust(4, b"\0"))
        return out + b"\0\0\0\0" + values

    identity = [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    mosaic = [entry(254, 4, [0]), entry(256, 4, [w]), entry(257, 4, [h]), entry(258, 3, [16]), entry(259, 3, [1]),
              entry(262, 3, [32803]), entry(273, 4, [0]), entry(277, 3, [1]), entry(278, 4, [h]),
              entry(279, 4, [len(data)]), entry(33421, 3, [2, 2]), entry(33422, 1, [0, 1, 1, 2]),
              entry(50721, 10, identity), entry(50778, 3, [21])]
    camera = [entry(271, 2, "Clippie"), entry(272, 2, "Test"), entry(274, 3, [6]), entry(50706, 1, [1, 4, 0, 0]),
              entry(50708, 2, "Clippie Test")]
    if preview is None:
        first, second, blob = sorted(mosaic + camera), [], data
    else:
        first = sorted(camera + [entry(254, 4, [1]), entry(256, 4, [32]), entry(257, 4, [24]),
                                 entry(258, 3, [8, 8, 8]), entry(259, 3, [7]), entry(262, 3, [6]), entry(273, 4, [0]),
                                 entry(277, 3, [3]), entry(278, 4, [24]), entry(279, 4, [len(preview)]),
                                 entry(330, 4, [0])])
        second, blob = mosaic, preview + data
    sub_at = 8 + len(ifd(first, 8, {}))
    blob_at = sub_at + (len(ifd(second, sub_at, {})) if second else 0)
    pack = lambda v: struct.pack("<I", v)  # noqa: E731
    if preview is None:
        out = ifd(first, 8, {273: pack(blob_at)})
    else:
        out = ifd(first, 8, {273: pack(blob_at), 330: pack(sub_at)})
        out += ifd(second, sub_at, {273: pack(blob_at + len(preview))})
    with open(path, "wb") as f:
        f.write(b"II*\0" + pack(8) + out + blob)


def preview_dng(out, smooth):
    """img-preview.dng, whose 32 x 24 preview JPEG is also written as
    img-preview6.jpg with an EXIF Orientation 6 segment added: the same
    compressed pixels, turned as the DNG's Orientation says."""
    import io
    import struct

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(smooth(24, 32, 3)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    dng(f"{out}/img-preview.dng", smooth(48, 64, 1)[:, :, 0], jpeg)
    tiff = b"II*\0" + struct.pack("<IHHHIHH", 8, 1, 0x112, 3, 1, 6, 0) + b"\0\0\0\0"
    app1 = b"Exif\0\0" + tiff
    with open(f"{out}/img-preview6.jpg", "wb") as f:
        f.write(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])


def heifs(out, smooth, record):
    """HEIC and AVIF by libheif-examples' heif-enc (x265, aom); Pillow 9.4
    reads neither, so the reference is Pillow's pipeline on heif-convert's
    PNG of the same decode (EXIF orientation not applied: the container's
    transformations are)."""
    import subprocess
    import tempfile
    from PIL import Image

    made = {"rgb.heic": smooth(30, 40, 3), "odd.heic": smooth(37, 45, 3), "rgba.heic": smooth(26, 34, 4),
            "rgb.avif": smooth(31, 41, 3), "rgba.avif": smooth(28, 30, 4)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, px in made.items():
            Image.fromarray(px).save(f"{tmp}/in.png")
            subprocess.run(["heif-enc", "-q", "70", "-o", f"{out}/img-{name}", f"{tmp}/in.png"], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["heif-convert", f"{out}/img-{name}", f"{tmp}/out.png"], check=True,
                           stdout=subprocess.DEVNULL)
            for res in (32, 21):
                record(name, res, clipref.preprocess(res)(Image.open(f"{tmp}/out.png")))


def tiffs(out, smooth, record):
    """TIFFs as Pillow (libtiff) writes them, tiled, planar and 16-bit ones
    by libtiff-tools' tiffcp and raw2tiff, and every Orientation tag."""
    import subprocess
    import tempfile
    from PIL import Image, ImageOps

    made = {
        "rgb.tif": (Image.fromarray(smooth(30, 40, 3)), "tiff_lzw"),
        "grey.tif": (Image.fromarray(smooth(34, 27, 1)[:, :, 0]), None),
        "palette.tif": (Image.fromarray(smooth(28, 36, 3)).quantize(16), "packbits"),
        "cmyk.tif": (Image.fromarray(smooth(26, 33, 3)).convert("CMYK"), "tiff_adobe_deflate"),
        "rgba.tif": (Image.fromarray(smooth(25, 31, 4)), "tiff_lzw"),
        "bilevel.tif": (Image.fromarray(smooth(40, 50, 1)[:, :, 0]).convert("1"), "group4"),
        "jpeg.tif": (Image.fromarray(smooth(32, 40, 3)), "jpeg"),
    }
    for name, (im, compression) in made.items():
        im.save(f"{out}/img-{name}", compression=compression)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["tiffcp", "-t", "-w", "16", "-l", "16", f"{out}/img-rgb.tif", f"{out}/img-tiled.tif"], check=True)
        subprocess.run(["tiffcp", "-p", "separate", f"{out}/img-rgb.tif", f"{out}/img-planar.tif"], check=True)
        rgb16 = smooth(22, 29, 3).astype("<u2") * 257 + smooth(22, 29, 3)
        rgb16.tofile(f"{tmp}/rgb16.raw")
        subprocess.run(["raw2tiff", "-w", "29", "-l", "22", "-d", "short", "-b", "3", "-p", "rgb",
                        f"{tmp}/rgb16.raw", f"{tmp}/rgb16.tif"], check=True)
        subprocess.run(["tiffcp", "-f", "msb2lsb", "-c", "zip", f"{tmp}/rgb16.tif", f"{out}/img-rgb16.tif"], check=True)
    names = list(made) + ["tiled.tif", "planar.tif", "rgb16.tif"]
    for name in names:
        for res in (32, 21):
            record(name, res, clipref.preprocess(res)(Image.open(f"{out}/img-{name}")))
    small = Image.fromarray(smooth(18, 24, 3))
    for o in range(1, 9):
        name = f"orient{o}.tif"
        small.save(f"{out}/img-{name}")
        subprocess.run(["tiffset", "-s", "274", str(o), f"{out}/img-{name}"], check=True)
        # Pillow 9.4's TIFF loader turns the image itself, garbling orientations
        # 5 to 8, and exif_transpose then turns it again: the reference is the
        # stored pixels turned once, by exif_transpose
        upright = Image.open(f"{out}/img-orient1.tif")
        upright.getexif()[0x0112] = o
        record(name, 32, clipref.preprocess(32)(ImageOps.exif_transpose(upright)))


def make_model(cfg, seed):
    torch.manual_seed(seed)
    m = clipref.CLIP(**cfg).eval()
    return m


def with_views(sd):
    """A state_dict whose tensors are views: a transposed projection and a
    bias at an offset inside a larger storage, as torch.save keeps them."""
    sd = dict(sd)
    tp = sd["text_projection"]
    sd["text_projection"] = tp.t().contiguous().t()
    b = sd["ln_final.bias"]
    big = torch.randn(b.numel() + 10)
    big[5:5 + b.numel()] = b
    sd["ln_final.bias"] = big[5:5 + b.numel()]
    return sd


def torch_save(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=True)


def bad_pickle(path, payload):
    """A checkpoint-shaped zip whose data.pkl is the given pickle bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def fixtures(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1)

    # tiny: OpenAI-style TorchScript (float16 linear weights) and the same
    # values as a float32 state_dict with views; one reference for both.
    m = make_model(TINY, 0)
    clipref.round_to(m, clipref.half_names(m), torch.float16)
    texts = reference(m, TINY, gen, f"{out}/tiny.ref")
    save_jit(m, texts[0], f"{out}/tiny.jit.pt")
    torch_save(with_views(m.state_dict()), f"{out}/tiny.sd.pt")

    # odd: exact GELU, bfloat16, 2 heads, odd patch, nested in a training
    # checkpoint under "state_dict" with DataParallel's "module." prefix.
    m = make_model(ODD, 2)
    clipref.round_to(m, {n for n, _ in m.named_parameters()}, torch.bfloat16)
    reference(m, ODD, gen, f"{out}/odd.ref")
    sd = {"module." + k: v.to(torch.bfloat16) for k, v in m.state_dict().items()}
    torch_save({"epoch": 3, "state_dict": sd}, f"{out}/odd.bf16.pt")

    images(out)

    # bad inputs, from a micro model
    m = make_model(MICRO, 3)
    sd = m.state_dict()
    torch_save({k: v for k, v in sd.items() if k != "visual.ln_post.weight"}, f"{out}/bad-missing.pt")
    torch_save(dict(sd, **{"ln_final.bias": torch.zeros(65)}), f"{out}/bad-shape.pt")
    torch_save(dict(sd, **{"visual.proj": sd["visual.proj"].double()}), f"{out}/bad-double.pt")
    torch_save(sd, f"{out}/micro.pt")
    bad_pickle(f"{out}/bad-system.pt", pickle.dumps(Evil(os.system, "touch /tmp/clippie-pwned"), protocol=2))
    bad_pickle(f"{out}/bad-eval.pt", pickle.dumps(Evil(eval, "1"), protocol=2))
    import subprocess
    bad_pickle(f"{out}/bad-subprocess.pt", pickle.dumps(Evil(subprocess.call, "touch /tmp/clippie-pwned"), protocol=3))
    bad_pickle(f"{out}/bad-exec.pt", pickle.dumps(Evil(exec, "open('/tmp/clippie-pwned', 'w')"), protocol=4))
    with open(f"{out}/micro.pt", "rb") as f:
        data = f.read()
    with open(f"{out}/bad-truncated.pt", "wb") as f:
        f.write(data[: len(data) // 2])


def main():
    if sys.argv[1] == "--images":
        images(sys.argv[2])
    elif sys.argv[1] in ("--b32", "--shape"):
        name = "b32" if sys.argv[1] == "--b32" else sys.argv.pop(2)
        cfg = RELEASED[name]
        m = make_model(cfg, 0)
        clipref.round_to(m, clipref.half_names(m), torch.float16)
        if len(sys.argv) > 3:  # before save_jit, which turns the shared parameters to float16
            reference(m, cfg, torch.Generator().manual_seed(1), sys.argv[3], sys.argv[4:])
        save_jit(m, [49406, 320, 49407], sys.argv[2])
    else:
        fixtures(sys.argv[1])


if __name__ == "__main__":
    main()
