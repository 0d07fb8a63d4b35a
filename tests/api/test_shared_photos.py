"""Every real photo of ../shared/photos/MANIFEST.tsv through the API: kept with its true values, or refused cleanly."""

import csv
import io
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from helpers import assert_problem, files_under, inspection_payload, photo_decl, put_photo, submit

SHARED_MANIFEST = Path(__file__).resolve().parents[3] / "shared" / "photos" / "MANIFEST.tsv"
# hopper_bad_exif.jpg is there to have corrupt EXIF: Pillow's warning about it is expected.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")

REFUSAL_CODES = {"unsupported_media", "corrupt_image", "payload_too_large"}
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def backend() -> str:
    """SQLite only: the photo pipeline under test does not touch the database beyond one row, and
    running these ~60 real files twice would double the suite's slowest module for nothing."""
    return "sqlite"


# Rows whose "expect" contradicts the contract ("corrupt_image: the pixels cannot be fully decoded").
# gps_jpeg/ultrahdr.jpg is 48,197 bytes ending right after its SOS header: there is no scan data at all,
# and the manifest's own notes say Pillow's load() fails on it. The contract wins; reported upstream.
EXPECT_CORRECTIONS = {"gps_jpeg/ultrahdr.jpg": "refuse"}


def _manifest() -> list[dict]:
    if not SHARED_MANIFEST.is_file():
        return []
    with open(SHARED_MANIFEST, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        row["expect"] = EXPECT_CORRECTIONS.get(row["file"], row["expect"])
    return rows


ROWS = _manifest()


def _expected_gps(row) -> tuple[float, float] | None:
    if row["has_gps"] != "yes":
        return None
    lat, lon = float(row["gps_lat_decimal"]), float(row["gps_lon_decimal"])
    return None if (lat, lon) == (0.0, 0.0) else (lat, lon)


def _expected_taken_at(row) -> datetime | None:
    text = row["exif_datetime_original"]
    if not text:
        return None
    stamp, offset = text[:19], text[19:]
    value = datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
    if offset:
        return datetime.fromisoformat(f"{value.isoformat()}{offset}")
    return value.replace(tzinfo=SHANGHAI)  # a camera's wall clock is read in the bureau's zone


def _store_files(app):
    return files_under(os.path.join(app.config["PHOTO_ROOT"], "store"))


def _send(client, field, data: bytes, content_type: str):
    photo = photo_decl(data)
    payload = inspection_payload(field.subject, photos=[photo])
    submit(client, field.headers, payload)
    return photo, payload, put_photo(client, field.headers, photo["id"], data, content_type=content_type)


CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] == "accept"], ids=lambda r: r["file"])
def test_accepted_photo_keeps_its_true_values(field, client, shared_photos, row):
    """A photo whose pixels decode is stored (201) with the manifest's size, GPS (or none) and shooting time."""
    data = (shared_photos / row["file"]).read_bytes()
    photo, payload, response = _send(client, field, data, CONTENT_TYPES.get(row["format"], "image/jpeg"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["width"], body["height"]) == (int(row["width"]), int(row["height"]))
    expected_type = {"JPEG": {"image/jpeg"}, "PNG": {"image/png"}, "WEBP": {"image/webp"},
                     "HEIF": {"image/heic", "image/heif"}}[row["format"]]
    assert body["content_type"] in expected_type
    gps = _expected_gps(row)
    if gps is None:
        assert body["gps"] is None
        assert "photo_without_gps" in {f["code"] for f in body["flags"]}
    else:
        assert abs(body["gps"]["lat"] - gps[0]) < 1e-6 and abs(body["gps"]["lon"] - gps[1]) < 1e-6
    taken_at = _expected_taken_at(row)
    if taken_at is None:
        assert body["taken_at"] is None
    else:
        assert datetime.fromisoformat(body["taken_at"]) == taken_at
    original = client.get(f"/api/v1/photos/{photo['id']}", headers=field.headers)
    assert original.get_data() == data and original.mimetype == body["content_type"]
    display = Image.open(io.BytesIO(client.get(f"/api/v1/photos/{photo['id']}/display",
                                               headers=field.headers).get_data()))
    assert display.format == "JPEG" and max(display.size) <= 1600
    width, height = body["width"], body["height"]
    turned = row["format"] != "HEIF" and row["orientation"] in ("5", "6", "7", "8")  # libheif turns HEIF itself
    if width != height:
        assert (display.size[0] > display.size[1]) == ((width > height) != turned), (display.size, row["orientation"])


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] == "refuse"], ids=lambda r: r["file"])
def test_refused_photo_leaves_nothing_behind(app, field, client, shared_photos, row):
    """A non-image, an undecodable file or a decompression bomb is a 4xx with a clear code and leaves no file."""
    data = (shared_photos / row["file"]).read_bytes()
    before = _store_files(app)
    photo, payload, response = _send(client, field, data, "image/jpeg")
    assert 400 <= response.status_code < 500, response.status_code
    body = assert_problem(response, response.status_code, response.get_json()["code"])
    assert body["code"] in REFUSAL_CODES
    assert _store_files(app) == before
    assert files_under(os.path.join(app.config["PHOTO_ROOT"], "tmp")) == []
    stored = client.get(f"/api/v1/inspections/{payload['id']}", headers=field.headers).get_json()
    assert stored["photos"][0]["received"] is False and stored["photos_missing"] == [photo["id"]]


def test_zero_byte_upload_is_refused(app, field, client):
    """An empty body declared as an empty file is refused with unsupported_media and nothing is stored."""
    photo, payload, response = _send(client, field, b"", "image/jpeg")
    assert_problem(response, 415, "unsupported_media")
    assert _store_files(app) == [] and files_under(os.path.join(app.config["PHOTO_ROOT"], "tmp")) == []


def test_manifest_is_there():
    """The shared manifest lists both accepted and refused files (a missing corpus would skip everything silently)."""
    if not ROWS:
        pytest.skip("../shared/photos is not beside the clone")
    assert {r["expect"] for r in ROWS} == {"accept", "refuse"}
