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


def png(ref):
    """PNG, GIF, PNM, TGA."""


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
