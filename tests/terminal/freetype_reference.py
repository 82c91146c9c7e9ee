#!/usr/bin/env python3
"""The FreeType-hinted reference picture of a terminal screen, for
tests/terminal.rs: the same text lines, fonts, faces, px size and cell grid
as video-worker draws, but rasterised by FreeType through Pillow (hinted, as
desktop terminals draw), white on black.

    freetype_reference.py JOB.json

JOB.json: {"lines": [...], "cell": [w, h], "baseline": b, "px": 16,
           "size": [W, H], "latin": PATH, "cjk": PATH, "cjk_index": 1,
           "out": PNG}

Wide characters (East Asian width W or F) come from the CJK face, centred in
their two cells; the others from the Latin font, on the baseline.
"""
import json
import sys
import unicodedata

from PIL import Image, ImageDraw, ImageFont


def main():
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    cw, ch = job["cell"]
    px, baseline = job["px"], job["baseline"]
    latin = ImageFont.truetype(job["latin"], px)
    cjk = ImageFont.truetype(job["cjk"], px, index=job["cjk_index"])
    image = Image.new("L", tuple(job["size"]), 0)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(job["lines"]):
        col = 0
        for c in line:
            wide = unicodedata.east_asian_width(c) in ("W", "F")
            cells = 2 if wide else 1
            if not c.isspace():
                font = cjk if wide else latin
                advance = font.getlength(c)
                x = col * cw + round((cells * cw - advance) / 2) if wide else col * cw
                draw.text((x, row * ch + baseline), c, font=font, fill=255, anchor="ls")
            col += cells
    image.save(job["out"])


if __name__ == "__main__":
    main()
