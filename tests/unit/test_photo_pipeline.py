"""Unit tests of server.photos.pipeline, mostly against the real photos of ../shared/photos."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import re
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from server.photos.pipeline import (
    PhotoInfo,
    PhotoRejected,
    Received,
    inspect,
    receive,
    render,
    sniff,
)

PHOTOS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "photos").resolve()
MANIFEST = PHOTOS / "MANIFEST.tsv"
NO_PHOTOS = f"photo corpus not found at {PHOTOS} (expected ../shared/photos next to the repository)"
requires_photos = pytest.mark.skipif(not MANIFEST.is_file(), reason=NO_PHOTOS)

# hopper_bad_exif.jpg makes Pillow warn while the pipeline (correctly) ignores its EXIF.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")

REFUSAL_CODES = {"unsupported_media", "corrupt_image", "payload_too_large"}
CONTENT_TYPES = {
    "JPEG": {"image/jpeg"},
    "PNG": {"image/png"},
    "WEBP": {"image/webp"},
    "HEIF": {"image/heic", "image/heif"},
}

# Where this suite knowingly departs from MANIFEST.tsv.
# gps_jpeg/ultrahdr.jpg is Pillow's header-only test fixture: its bytes stop at
# the end of the SOS header, so the photo has no compressed pixel data at all
# (its MPF index says the primary image is 512,743 bytes; the file is 48,197).
# Decoding what is there yields a flat grey rectangle. The contract's
# corrupt_image ("the pixels cannot be fully decoded") applies, exactly as for
# malformed/truncated.jpg. test_ultrahdr_fixture_has_no_scan_data pins the
# fact, so that this entry goes if the file is ever replaced by the full one.
EXPECT_OVERRIDES = {"gps_jpeg/ultrahdr.jpg": "refuse"}


def _manifest() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        row["expect"] = EXPECT_OVERRIDES.get(row["file"], row["expect"])
    return rows


ROWS = _manifest()


def _params(expect: str) -> list:
    rows = [row for row in ROWS if row["expect"] == expect]
    if not rows:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_PHOTOS))]
    return [pytest.param(row, id=row["file"]) for row in rows]


def _is_bomb(row: dict[str, str]) -> bool:
    """A refused file of a supported type whose declared size exceeds 100 MP."""
    if row["format"] not in CONTENT_TYPES or not row["width"] or not row["height"]:
        return False
    return int(row["width"]) * int(row["height"]) > 100_000_000


def _expected_orientation(row: dict[str, str]) -> int | None:
    """Orientation still to apply to the decoded pixels.

    For HEIC, libheif applies the container's rotation while decoding and
    pillow-heif resets EXIF to 1; the manifest notes this as "Orientation per
    Pillow=1" next to the IFD0 value exiftool reports.
    """
    decoded = re.search(r"Orientation per Pillow=(\d)", row["notes"])
    value = decoded.group(1) if decoded else row["orientation"]
    if not value or int(value) not in range(1, 9):
        return None
    return int(value)


def _expected_make_model(row: dict[str, str]) -> tuple[str | None, str | None] | None:
    """(make, model) from the notes, or None when the notes do not say."""
    match = re.search(r"Make/Model=([^/;]*)/([^;]*)", row["notes"])
    if match:
        return match.group(1).strip() or None, match.group(2).strip() or None
    if re.search(r"no Make/Model", row["notes"], re.IGNORECASE):
        return None, None
    return None


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return round(width * scale), round(height * scale)


# ---------------------------------------------------------------------------
# The corpus


@requires_photos
@pytest.mark.parametrize("row", _params("accept"))
def test_accepted_photo_is_inspected_as_in_manifest(row):
    """An accepted photo decodes and reports the manifest's size, type, GPS, time, make and model."""
    info = inspect(PHOTOS / row["file"])

    assert (info.width, info.height) == (int(row["width"]), int(row["height"]))
    assert info.content_type in CONTENT_TYPES[row["format"]]
    if row["orientation"] == "":
        # The manifest's readers found no orientation (hopper_bad_exif.jpg: exiftool
        # gives up on its IFD0, whose first entries, Orientation=1 included, are
        # sound). None and 1 both mean "as stored".
        assert info.orientation in (None, 1)
    else:
        assert info.orientation == _expected_orientation(row)

    usable_fix = row["has_gps"] == "yes" and (float(row["gps_lat_decimal"]), float(row["gps_lon_decimal"])) != (0, 0)
    if usable_fix:
        assert info.gps is not None
        assert info.gps[0] == pytest.approx(float(row["gps_lat_decimal"]), abs=1e-6)
        assert info.gps[1] == pytest.approx(float(row["gps_lon_decimal"]), abs=1e-6)
    else:
        assert info.gps is None

    written = row["exif_datetime_original"]
    if written:
        assert info.datetime_original == datetime.strptime(written[:19], "%Y:%m:%d %H:%M:%S")
        assert info.offset == (written[19:] or None)
    else:
        assert info.datetime_original is None
        assert info.offset is None

    make_model = _expected_make_model(row)
    if make_model is not None:
        assert (info.make, info.model) == make_model


@requires_photos
@pytest.mark.parametrize("row", _params("accept"))
def test_accepted_photo_renders_upright_thumbnail(row):
    """render(320) gives an RGB JPEG, longest side <= 320, width and height swapped for orientations 5-8."""
    width, height = int(row["width"]), int(row["height"])
    if _expected_orientation(row) in (5, 6, 7, 8):
        width, height = height, width
    expected = _fit(width, height, 320)

    data = render(PHOTOS / row["file"], max_side=320)

    with Image.open(io.BytesIO(data)) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.mode == "RGB"
        assert max(thumbnail.size) <= 320
        assert max(thumbnail.size) == max(expected)
        assert abs(thumbnail.size[0] - expected[0]) <= 1 and abs(thumbnail.size[1] - expected[1]) <= 1
        assert not thumbnail.getexif()


@requires_photos
@pytest.mark.parametrize("row", _params("refuse"))
def test_refused_file_is_rejected_with_a_contract_code(row):
    """A file the manifest refuses raises PhotoRejected with unsupported_media, corrupt_image or payload_too_large."""
    with pytest.raises(PhotoRejected) as caught:
        inspect(PHOTOS / row["file"])
    assert caught.value.code in REFUSAL_CODES
    assert caught.value.detail


@requires_photos
@pytest.mark.parametrize("row", [p for p in _params("refuse") if p.values[0] is None or _is_bomb(p.values[0])])
def test_decompression_bomb_is_refused_by_its_pixel_count(row):
    """A supported image above 100 MP is corrupt_image with a detail naming the pixel limit (refused before decoding)."""
    with pytest.raises(PhotoRejected) as caught:
        inspect(PHOTOS / row["file"])
    assert caught.value.code == "corrupt_image"
    assert "pixel limit" in caught.value.detail


@requires_photos
def test_ultrahdr_fixture_has_no_scan_data():
    """gps_jpeg/ultrahdr.jpg ends right after its SOS header (no pixel data), so it is refused as corrupt."""
    data = (PHOTOS / "gps_jpeg" / "ultrahdr.jpg").read_bytes()
    sos = data.rindex(b"\xff\xda")
    (header_length,) = struct.unpack(">H", data[sos + 2 : sos + 4])
    assert sos + 2 + header_length == len(data)

    with pytest.raises(PhotoRejected) as caught:
        inspect(PHOTOS / "gps_jpeg" / "ultrahdr.jpg")
    assert caught.value.code == "corrupt_image"
    assert "truncated" in caught.value.detail


@requires_photos
def test_truncated_jpeg_is_corrupt():
    """A JPEG cut inside its scan data is corrupt_image."""
    with pytest.raises(PhotoRejected) as caught:
        inspect(PHOTOS / "malformed" / "truncated.jpg")
    assert caught.value.code == "corrupt_image"


@requires_photos
def test_text_named_jpg_is_unsupported():
    """A text file named .jpg is unsupported_media."""
    with pytest.raises(PhotoRejected) as caught:
        inspect(PHOTOS / "malformed" / "test.jpg")
    assert caught.value.code == "unsupported_media"


@requires_photos
def test_display_rendition_is_not_upscaled_and_fits():
    """render(1600) keeps small photos at their size and brings a 3120x4160 photo to 1200x1600."""
    with Image.open(io.BytesIO(render(PHOTOS / "gps_edge" / "Ricoh2.jpg", max_side=1600))) as small:
        assert small.size == (8, 8)
    with Image.open(io.BytesIO(render(PHOTOS / "gps_jpeg" / "Oppo R7 Plus.jpg", max_side=1600))) as large:
        assert large.size == (1200, 1600)


@requires_photos
def test_heic_rotated_by_container_is_not_rotated_twice():
    """A HEIC whose container rotates it (arrow.heic) renders portrait, as decoded, with orientation 1."""
    info = inspect(PHOTOS / "heic" / "arrow.heic")
    assert (info.width, info.height, info.orientation) == (3024, 4032, 1)
    with Image.open(io.BytesIO(render(PHOTOS / "heic" / "arrow.heic", max_side=320))) as thumbnail:
        assert thumbnail.size == (240, 320)


@requires_photos
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutilated_files_raise_nothing_but_photo_rejected(tmp_path):
    """Truncated and bit-flipped copies of real photos either inspect and render or raise PhotoRejected."""
    sources = [
        "gps_edge/Ricoh2.jpg",
        "orientation/f5t.jpg",
        "png/png_with_exif_and_gps.png",
        "webp/Issue 473 (Java).webp",
        "heic/empty_icc.heic",
    ]
    rng = random.Random(20260504)
    outcomes = set()
    for name in sources:
        original = (PHOTOS / name).read_bytes()
        variants = [original[: rng.randrange(1, len(original))] for _ in range(4)]
        for _ in range(4):
            flipped = bytearray(original)
            for _ in range(8):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            variants.append(bytes(flipped))
        for index, variant in enumerate(variants):
            path = tmp_path / f"{index}-{Path(name).name}"
            path.write_bytes(variant)
            try:
                inspect(path)
                render(path, max_side=64)
                outcomes.add("kept")
            except PhotoRejected as rejected:
                assert rejected.code in REFUSAL_CODES
                outcomes.add(rejected.code)
            finally:
                path.unlink()
    assert "corrupt_image" in outcomes


# ---------------------------------------------------------------------------
# Synthetic files


def _gps_exif(lat_ref, lat, lon_ref, lon) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: lat_ref, 2: lat, 3: lon_ref, 4: lon})
    return exif


def _dms(*parts) -> tuple:
    return tuple(part if isinstance(part, IFDRational) else IFDRational(part) for part in parts)


def test_southern_and_western_hemispheres_are_negative(tmp_path):
    """GPS refs S and W give negative latitude and longitude."""
    path = tmp_path / "sydney.jpg"
    exif = _gps_exif("S", _dms(33, 52, IFDRational(1234, 100)), "W", _dms(151, 12, 30))
    Image.new("RGB", (40, 20), "red").save(path, exif=exif)
    lat, lon = inspect(path).gps
    assert lat == pytest.approx(-(33 + 52 / 60 + 12.34 / 3600), abs=1e-9)
    assert lon == pytest.approx(-(151 + 12 / 60 + 30 / 3600), abs=1e-9)


@pytest.mark.parametrize(
    "exif",
    [
        pytest.param(_gps_exif("N", _dms(33, IFDRational(0, 0), 0), "E", _dms(151, 12, 30)), id="zero-denominator"),
        pytest.param(_gps_exif("", _dms(33, 52, 0), "E", _dms(151, 12, 30)), id="empty-ref"),
        pytest.param(_gps_exif("N", _dms(0, 0, 0), "E", _dms(0, 0, 0)), id="null-island"),
        pytest.param(_gps_exif("N", _dms(95, 0, 0), "E", _dms(10, 0, 0)), id="out-of-range"),
    ],
)
def test_unusable_gps_is_absent(tmp_path, exif):
    """Zero denominators, empty refs, exactly (0, 0) and out-of-range values give gps None."""
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), "blue").save(path, exif=exif)
    assert inspect(path).gps is None


def test_webp_exif_gps_and_time_are_read(tmp_path):
    """EXIF in a WebP gives GPS, time and offset."""
    exif = _gps_exif("N", _dms(38, 29, 14), "E", _dms(106, 13, 51))
    exif.get_ifd(0x8769).update({0x9003: "2026:05:04 09:30:00", 0x9011: "+08:00"})
    path = tmp_path / "photo.webp"
    Image.new("RGB", (16, 16), "green").save(path, exif=exif)
    info = inspect(path)
    assert info.gps == pytest.approx((38 + 29 / 60 + 14 / 3600, 106 + 13 / 60 + 51 / 3600), abs=1e-9)
    assert (info.datetime_original, info.offset) == (datetime(2026, 5, 4, 9, 30), "+08:00")


def test_invalid_datetime_and_offset_are_absent(tmp_path):
    """A zeroed DateTimeOriginal and a malformed OffsetTimeOriginal are None, not errors."""
    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x9003: "0000:00:00 00:00:00", 0x9011: "+8h"})
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16)).save(path, exif=exif)
    info = inspect(path)
    assert (info.datetime_original, info.offset) == (None, None)


def test_taken_at_uses_offset_else_default_zone():
    """taken_at is aware: the camera's offset when known, else the default zone; None without a time."""
    base = dict(content_type="image/jpeg", width=1, height=1, orientation=None, gps=None, make=None, model=None)
    shanghai = ZoneInfo("Asia/Shanghai")
    with_offset = PhotoInfo(datetime_original=datetime(2026, 5, 4, 9, 30), offset="-04:00", **base)
    without = PhotoInfo(datetime_original=datetime(2026, 5, 4, 9, 30), offset=None, **base)
    missing = PhotoInfo(datetime_original=None, offset=None, **base)
    assert with_offset.taken_at(shanghai) == datetime(2026, 5, 4, 13, 30, tzinfo=timezone.utc)
    assert with_offset.taken_at(shanghai).utcoffset() == timedelta(hours=-4)
    assert without.taken_at(shanghai) == datetime(2026, 5, 4, 1, 30, tzinfo=timezone.utc)
    assert missing.taken_at(shanghai) is None


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    """An image above max_pixels is corrupt_image naming the pixel limit, whatever Pillow's own limit."""
    path = tmp_path / "photo.png"
    Image.new("RGB", (200, 100)).save(path)
    with pytest.raises(PhotoRejected) as caught:
        inspect(path, max_pixels=19_999)
    assert caught.value.code == "corrupt_image"
    assert "pixel limit" in caught.value.detail
    assert inspect(path, max_pixels=20_000).width == 200


def test_zero_byte_file_is_refused(tmp_path):
    """An empty file is unsupported_media."""
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(PhotoRejected) as caught:
        inspect(path)
    assert caught.value.code == "unsupported_media"


def test_gif_is_unsupported(tmp_path):
    """A GIF, though Pillow reads it, is unsupported_media."""
    path = tmp_path / "photo.gif"
    Image.new("P", (8, 8)).save(path)
    with pytest.raises(PhotoRejected) as caught:
        inspect(path)
    assert caught.value.code == "unsupported_media"


def test_transparency_is_flattened_on_white(tmp_path):
    """A fully transparent PNG renders as a white RGB JPEG."""
    path = tmp_path / "clear.png"
    Image.new("RGBA", (10, 10), (255, 0, 0, 0)).save(path)
    with Image.open(io.BytesIO(render(path, max_side=320))) as rendered:
        assert rendered.mode == "RGB"
        assert all(channel >= 250 for channel in rendered.getpixel((5, 5)))


def test_render_applies_orientation(tmp_path):
    """Orientation 6 (rotate 90 clockwise to view) turns a 40x20 image with a red left half into 20x40, red on top."""
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    with Image.open(io.BytesIO(render(path, max_side=320))) as rendered:
        assert rendered.size == (20, 40)
        red, _, blue = rendered.getpixel((10, 5))
        assert red > 200 and blue < 60


def test_render_rejects_what_inspect_rejects(tmp_path):
    """render raises PhotoRejected, not a Pillow error, for bytes that are not an image."""
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(PhotoRejected) as caught:
        render(path, max_side=320)
    assert caught.value.code == "corrupt_image"


# ---------------------------------------------------------------------------
# receive()


class _Chunks(io.RawIOBase):
    """A readable stream over ``data`` that records the sizes asked for."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.requests: list[int] = []
        self.delivered = 0

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        chunk = self._data.read(size)
        self.delivered += len(chunk)
        return chunk


def test_receive_hashes_and_stores_the_bytes(tmp_path):
    """receive writes every byte to a file in the directory and returns its SHA-256 and size."""
    data = bytes(range(256)) * 1000
    stream = _Chunks(data)
    received = receive(stream, directory=tmp_path, max_bytes=len(data), chunk_size=4096)
    assert isinstance(received, Received)
    assert received.path.parent == tmp_path
    assert received.path.read_bytes() == data
    assert (received.sha256, received.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert max(stream.requests) <= 4096


def test_receive_refuses_above_the_cap_and_leaves_nothing(tmp_path):
    """More than max_bytes is payload_too_large, read no further than the cap, and the partial file is gone."""
    stream = _Chunks(b"x" * 1_000_000)
    with pytest.raises(PhotoRejected) as caught:
        receive(stream, directory=tmp_path, max_bytes=10_000, chunk_size=4096)
    assert caught.value.code == "payload_too_large"
    assert stream.delivered == 10_001
    assert list(tmp_path.iterdir()) == []


def test_receive_refuses_empty_body_and_leaves_nothing(tmp_path):
    """An empty body is unsupported_media and leaves no file behind."""
    with pytest.raises(PhotoRejected) as caught:
        receive(io.BytesIO(b""), directory=tmp_path, max_bytes=100)
    assert caught.value.code == "unsupported_media"
    assert "empty body" in caught.value.detail
    assert list(tmp_path.iterdir()) == []


def test_receive_deletes_partial_file_when_the_client_goes_away(tmp_path):
    """An error from the stream propagates unchanged and the partial file is deleted."""

    class Broken(io.RawIOBase):
        calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("client went away")
            return b"y" * size

    with pytest.raises(ConnectionResetError):
        receive(Broken(), directory=tmp_path, max_bytes=1_000_000, chunk_size=1024)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# sniff()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08meta"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", id="jpeg"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", id="png"),
        pytest.param(b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp", id="webp"),
        pytest.param(_ftyp(b"heic", b"mif1", b"heic"), "image/heic", id="heic"),
        pytest.param(_ftyp(b"mif1", b"mif1", b"heic"), "image/heic", id="mif1-with-heic"),
        pytest.param(_ftyp(b"msf1", b"msf1", b"hevc"), "image/heic", id="hevc-sequence"),
        pytest.param(_ftyp(b"mif1", b"mif1", b"miaf"), "image/heif", id="heif"),
        pytest.param(_ftyp(b"avif", b"mif1", b"miaf"), None, id="avif"),
        pytest.param(_ftyp(b"isom", b"mp41"), None, id="mp4"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", None, id="gif"),
        pytest.param(b"this is stuff", None, id="text"),
        pytest.param(b"\xff\xd8", None, id="too-short"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_sniff_recognises_formats_by_magic_bytes(head, expected):
    """sniff maps the magic bytes of each format to its content type, and anything else to None."""
    assert sniff(head) == expected


@requires_photos
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gps_jpeg/GoPro.jpg", "image/jpeg"),
        ("png/exif.png", "image/png"),
        ("webp/HTC Desire.webp", "image/webp"),
        ("heic/pug.heic", "image/heic"),
        ("malformed/test.jpg", None),
        ("malformed/zero_width.gif", None),
    ],
)
def test_sniff_real_files(name, expected):
    """sniff recognises real files from their first bytes; a text file named .jpg is None."""
    assert sniff((PHOTOS / name).read_bytes()[:256]) == expected
