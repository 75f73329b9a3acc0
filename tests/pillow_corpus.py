"""Compares clippie's image decoding with Pillow's over a folder of images,
meant for a copy of Pillow's own test corpus (python-pillow/Pillow,
Tests/images; not committed, nothing is fetched here):

    /usr/bin/python3 tests/pillow_corpus.py PILLOW/Tests/images [--res N] [--pixels tests/pixels]
           [--clippie ./clippie --model M.weights]   # also one embed-image run over it all

Needs Debian's python3-pil, python3-torch, python3-torchvision. For each
file of a format clippie reads (told by Pillow when it opens the file, by
the first bytes when it does not), Pillow + CLIP's transform (clipref.py)
and tests/pixels (image_preprocess, no EXIF orientation) make the model's
input at RES; the file is
  equal    both made it, max abs difference <= 1e-5
  close    both made it, cosine >= 0.99999
  differ   both made it, further apart
  missed   Pillow made it, clippie refused it
  refused  Pillow refused it, so did clippie
  accepted Pillow refused it, clippie did not
  crashed  tests/pixels died of a signal, hung (60 s) or used over 2 GiB
Prints counts by format, then each file that is not equal or refused with
its class (format, Pillow's mode) and clippie's message. Exit 1 when any
file crashed."""

import argparse
import os
import resource
import subprocess
import sys
from collections import Counter, defaultdict

import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipref  # noqa: E402

# Pillow's format names of what clippie reads; PPM is Pillow's whole PNM family
OURS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "PPM", "TGA", "WEBP", "TIFF"}


def magic(path):
    """The format by the first bytes, for files Pillow refuses."""
    with open(path, "rb") as f:
        b = f.read(16)
    if b[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if b[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if b[:2] == b"BM":
        return "BMP"
    if len(b) >= 2 and b[0:1] == b"P" and b[1:2] in b"123456":
        return "PPM"
    if b[:4] in (b"II*\0", b"MM\0*"):
        return "TIFF"
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "WEBP"
    if path.lower().endswith(".tga"):
        return "TGA"
    return None


def pillow(path, res):
    """(format, mode, pixels or None, why)"""
    from PIL import Image
    try:
        with Image.open(path) as im:
            fmt, mode = im.format, im.mode
            im.load()
            px = clipref.preprocess(res)(im).numpy()
        return fmt, mode, px, None
    except Exception as e:  # Pillow refused it, whatever the reason
        return magic(path), "-", None, "%s: %s" % (type(e).__name__, e)


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def sanitized(pixels):
    """ASan reserves terabytes of address space: no memory limit then."""
    return "__asan_init" in subprocess.run(["nm", pixels], capture_output=True, text=True).stdout


def clippie(pixels, asan, path, res):
    """(pixels or None, message, crashed)"""
    try:
        r = subprocess.run([pixels, str(res), path], capture_output=True, timeout=60,
                           preexec_fn=None if asan else limit_memory)
    except subprocess.TimeoutExpired:
        return None, "hung (60 s)", True
    msg = r.stderr.decode(errors="replace").strip()
    if r.returncode < 0 or r.returncode > 1 or "Sanitizer" in msg:
        return None, "died (%d): %s" % (r.returncode, msg[-300:]), True
    if r.returncode:
        return None, msg, False
    return np.frombuffer(r.stdout, dtype=np.float32).reshape(3, res, res), "", False


def compare(a, b):
    diff = float(np.max(np.abs(a.astype(np.float64) - b)))
    cos = float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    return ("equal" if diff <= 1e-5 else "close" if cos >= 0.99999 else "differ"), diff, cos


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--pixels", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "pixels"))
    ap.add_argument("--clippie")
    ap.add_argument("--model")
    a = ap.parse_args()
    warnings.simplefilter("ignore")  # Pillow's about odd files: the verdicts say it

    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(a.corpus) for f in fs)
    asan = sanitized(a.pixels)
    counts = defaultdict(Counter)
    report = []
    for path in files:
        fmt, mode, ref, why = pillow(path, a.res)
        if fmt not in OURS:
            continue
        px, msg, crashed = clippie(a.pixels, asan, path, a.res)
        name = os.path.relpath(path, a.corpus)
        if crashed:
            verdict, detail = "crashed", msg
        elif ref is None:
            verdict, detail = ("refused", "") if px is None else ("accepted", "Pillow: " + why)
        elif px is None:
            verdict, detail = "missed", msg
        else:
            verdict, diff, cos = compare(px, ref)
            detail = "max diff %.3g, cosine %.7f" % (diff, cos)
        counts[fmt][verdict] += 1
        if verdict not in ("equal", "refused"):
            report.append("%-8s %-5s %-7s %s: %s" % (verdict, fmt, mode, name, detail))

    kinds = ["equal", "close", "differ", "missed", "refused", "accepted", "crashed"]
    print("%-6s %6s %s" % ("format", "opened", " ".join("%8s" % k for k in kinds)))
    total = Counter()
    for fmt in sorted(counts):
        c = counts[fmt]
        total.update(c)
        opened = c["equal"] + c["close"] + c["differ"] + c["missed"]
        print("%-6s %6d %s" % (fmt, opened, " ".join("%8d" % c[k] for k in kinds)))
    opened = total["equal"] + total["close"] + total["differ"] + total["missed"]
    print("%-6s %6d %s" % ("all", opened, " ".join("%8d" % total[k] for k in kinds)))
    if opened:
        print("equal or close: %.1f%% of the %d files Pillow opens" %
              (100.0 * (total["equal"] + total["close"]) / opened, opened))
    print()
    print("\n".join(sorted(report)))

    if a.clippie and a.model:
        # one run over the whole folder as a user's would be: it must end,
        # report bad files and keep going
        r = subprocess.run([a.clippie, "embed-image", "--no-exif-orientation", "-m", a.model, "-f", "csv", a.corpus],
                           capture_output=True, timeout=3600)
        rows = r.stdout.count(b"\n")
        print("\nembed-image over the folder: exit %d, %d vectors, %d lines on stderr" %
              (r.returncode, rows, r.stderr.count(b"\n")))
        if r.returncode not in (0, 1) or r.returncode < 0:
            total["crashed"] += 1
    return 1 if total["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
