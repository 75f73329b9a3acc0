#!/usr/bin/python3
"""Near-duplicates of tests/fixtures/img-photo.jpg for clippie duplicates'
tests, made with Pillow: re-encoded as a JPEG of quality 70, and resized
to three quarters as a PNG. Run from the repository's top folder."""
from PIL import Image

im = Image.open("tests/fixtures/img-photo.jpg")
im.save("tests/fixtures/dup-reenc.jpg", quality=70)
im.resize((im.size[0] * 3 // 4, im.size[1] * 3 // 4), Image.BICUBIC).save("tests/fixtures/dup-small.png")
