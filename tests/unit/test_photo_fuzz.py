"""Mutated JPEG, PNG and HEIC bytes through the photo pipeline: refused with a 4xx code or accepted, nothing else.

Hypothesis flips, deletes, inserts and truncates bytes of small valid photos
(made here, with EXIF). Each example must end as a valid result or as
``PhotoRejected``; a hang is caught by the 2-second deadline the issue sets
(the seeds are tiny, so a correct decode takes milliseconds).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import make_jpeg
from server.photos import pipeline

pillow_heif.register_heif_opener()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (80, 60), (20, 120, 200, 128)).save(out, format="PNG")
    return out.getvalue()


def _heic() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 200, 30)).save(out, format="HEIF", quality=50)
    return out.getvalue()


SEEDS = {
    "jpeg": make_jpeg((120, 90), gps=(38.47, 106.27), orientation=6,
                      taken_at=datetime(2026, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))),
    "png": _png(),
    "heic": _heic(),
}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if action == "flip":
            data[where] ^= draw(st.integers(1, 255))
        elif action == "delete":
            del data[where:where + draw(st.integers(1, 64))]
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=32))
        elif action == "truncate":
            del data[where:]
        else:
            chunk = data[where:where + draw(st.integers(1, 256))]
            data[where:where] = chunk
    return bytes(data)


FUZZ = settings(max_examples=150, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _through_the_pipeline(tmp_path, data: bytes) -> None:
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    try:
        info = pipeline.inspect(path, max_pixels=10_000_000)
    except pipeline.PhotoRejected as rejected:
        assert rejected.code in {"unsupported_media", "corrupt_image"}
        return
    assert info.width > 0 and info.height > 0
    for side in (1600, 320):
        rendered = pipeline.render(path, max_side=side, max_pixels=10_000_000)
        with Image.open(io.BytesIO(rendered)) as image:
            assert image.format == "JPEG" and max(image.size) <= side


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_the_seed_itself_is_accepted(tmp_path, kind):
    path = tmp_path / "seed"
    path.write_bytes(SEEDS[kind])
    assert pipeline.inspect(path).width > 0


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_mutated_photos_are_accepted_or_refused_cleanly(tmp_path_factory, kind):
    directory = tmp_path_factory.mktemp(f"fuzz-{kind}")

    @FUZZ
    @given(mutated(SEEDS[kind]))
    def check(data):
        _through_the_pipeline(directory, data)

    check()
