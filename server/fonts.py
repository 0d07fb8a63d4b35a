"""Finding a CJK (Chinese) TrueType font on the server: for the case transfer letter PDF and the report charts.

One setting names it, ``CASE_PDF_FONT``; without it the usual system places
are searched (``make system-deps`` installs fonts-wqy-zenhei on Debian).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from flask import current_app

# Where Debian (and most distributions) put CJK TrueType fonts; the first that exists is used.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/simsun.ttc",
)
FONT_HINT = ("install one (Debian: apt-get install fonts-wqy-zenhei, done by `make system-deps`) "
             "or set QINGLING_CASE_PDF_FONT to a .ttf/.ttc file")


class FontMissing(RuntimeError):
    """No CJK font to draw with."""


def find_font(purpose: str = "the transfer letter PDF") -> str:
    """Return the path of a CJK TrueType font; FontMissing with what to do when there is none."""
    configured = current_app.config.get("CASE_PDF_FONT")
    if configured:
        if not os.path.isfile(configured):
            raise FontMissing(f"CASE_PDF_FONT names {configured}, which is not a file; {FONT_HINT}")
        return configured
    for candidate in FONT_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate
    if shutil.which("fc-list"):
        try:
            listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10,
                                    check=False).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        for line in sorted(listed.splitlines()):
            path = line.split(":")[0].strip()
            if path.lower().endswith((".ttf", ".ttc")) and os.path.isfile(path):
                return path
    found = sorted(glob.glob("/usr/share/fonts/**/*[Cc][Jj][Kk]*.tt[fc]", recursive=True))
    if found:
        return found[0]
    raise FontMissing(f"No Chinese (CJK) font found for {purpose}; {FONT_HINT}")
