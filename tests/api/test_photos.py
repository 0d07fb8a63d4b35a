"""Photo bytes: upload checks, idempotence, storage, renditions, EXIF values and flags."""

import io
import os
import uuid
from datetime import datetime, timedelta

import pytest
from PIL import Image, ImageOps

from helpers import (assert_problem, files_under, hazard_item, inspection_payload, local_now, make_jpeg, make_png,
                     make_user, login, offset_m, photo_decl, put_photo, sha256, submit)

PHOTOS = "/api/v1/photos"


def _declare(client, field, *blobs, **payload_overrides) -> list[dict]:
    """Submit an inspection declaring one evidence photo per blob; return the declarations."""
    photos = [photo_decl(blob) for blob in blobs]
    submit(client, field.headers, inspection_payload(field.subject, photos=photos, **payload_overrides))
    return photos


def _info(client, field, photo_id) -> dict:
    response = client.get(f"{PHOTOS}/{photo_id}/info", headers=field.headers)
    assert response.status_code == 200
    return response.get_json()


def _nothing_stored(app):
    root = app.config["PHOTO_ROOT"]
    assert files_under(os.path.join(root, "tmp")) == []
    assert files_under(os.path.join(root, "store")) == []


def _noise_jpeg(size) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_upload_answers_the_exif_values(field, client, shared_photos):
    """A phone JPEG is stored (201) and answered with its type, size, shooting time, GPS, camera and flags."""
    data = (shared_photos / "gps_jpeg" / "HTC Desire.jpg").read_bytes()
    [photo] = _declare(client, field, data)
    response = put_photo(client, field.headers, photo["id"], data)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] == photo["id"] and body["sha256"] == sha256(data)
    assert body["content_type"] == "image/jpeg" and (body["width"], body["height"]) == (776, 909)
    assert abs(body["gps"]["lat"] - 45.50066667) < 1e-6 and abs(body["gps"]["lon"] - 9.11033333) < 1e-6
    # DateTimeOriginal without an offset is read in the bureau's zone.
    assert body["taken_at"] == "2011-05-06T09:59:48+08:00"
    assert body["make"] == "HTC" and body["model"] == "HTC Desire"
    assert {f["code"] for f in body["flags"]} == {"photo_far_from_subject", "photo_taken_before_visit"}
    assert body["received"] is True


def test_same_bytes_again_answer_200(app, field, client):
    """Sending the same bytes again answers 200 with the same body and stores nothing new."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    first = put_photo(client, field.headers, photo["id"], data)
    assert first.status_code == 201
    stored = files_under(os.path.join(app.config["PHOTO_ROOT"], "store"))
    again = put_photo(client, field.headers, photo["id"], data)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert files_under(os.path.join(app.config["PHOTO_ROOT"], "store")) == stored
    assert files_under(os.path.join(app.config["PHOTO_ROOT"], "tmp")) == []


def test_wrong_digest_header_is_digest_mismatch(app, field, client):
    """Bytes that do not hash to X-Content-SHA256 are 422 digest_mismatch and nothing is kept."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    response = put_photo(client, field.headers, photo["id"], data, digest="0" * 64)
    assert_problem(response, 422, "digest_mismatch")
    assert _info(client, field, photo["id"])["received"] is False
    _nothing_stored(app)


def test_bytes_other_than_declared_are_digest_mismatch(app, field, client):
    """Bytes matching their header but not the SHA-256 declared in the inspection are 422 digest_mismatch."""
    declared, other = make_jpeg(color=(1, 2, 3)), make_jpeg(color=(200, 200, 200))
    [photo] = _declare(client, field, declared)
    assert_problem(put_photo(client, field.headers, photo["id"], other), 422, "digest_mismatch")
    assert _info(client, field, photo["id"])["received"] is False
    _nothing_stored(app)


def test_missing_digest_header_is_a_validation_error(field, client):
    """An upload without X-Content-SHA256 is 422 validation_error naming the header."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    body = assert_problem(put_photo(client, field.headers, photo["id"], data, with_digest=False), 422,
                          "validation_error")
    assert "X-Content-SHA256" in body["errors"]


def test_digest_header_is_case_insensitive(field, client):
    """X-Content-SHA256 in upper-case hex is accepted."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    assert put_photo(client, field.headers, photo["id"], data, digest=sha256(data).upper()).status_code == 201


def test_undeclared_photo_is_not_found(app, field, client):
    """Bytes for an id nobody declared are 404 not_found and nothing is stored."""
    data = make_jpeg()
    assert_problem(put_photo(client, field.headers, str(uuid.uuid4()), data), 404, "not_found")
    _nothing_stored(app)


def test_photo_of_another_district_is_not_found(app, field, client):
    """An inspector of another district gets 404 for PUT and GET of a photo declared in 640104."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    with app.app_context():
        make_user("jinfeng", districts=["640106"])
    other = login(client, "jinfeng")
    assert_problem(put_photo(client, other, photo["id"], data), 404, "not_found")
    assert put_photo(client, field.headers, photo["id"], data).status_code == 201
    for suffix in ("", "/display", "/thumbnail", "/info"):
        assert_problem(client.get(f"{PHOTOS}/{photo['id']}{suffix}", headers=other), 404, "not_found")


def test_upload_above_the_limit_is_refused_and_leaves_no_file(app, field, make_app):
    """An upload above PHOTO_MAX_BYTES is 413 payload_too_large and no file is left in tmp or the store."""
    small = make_app(PHOTO_MAX_BYTES=20_000)
    client = small.test_client()
    data = _noise_jpeg((200, 150))
    assert len(data) > 20_000
    [photo] = _declare(client, field, data)
    assert_problem(put_photo(client, field.headers, photo["id"], data), 413, "payload_too_large")
    # Without Content-Length (chunked upload) the limit is enforced while streaming.
    response = client.put(f"{PHOTOS}/{photo['id']}", input_stream=io.BytesIO(data),
                          headers={**field.headers, "Content-Type": "image/jpeg", "X-Content-SHA256": sha256(data)},
                          environ_overrides={"wsgi.input_terminated": True})
    assert_problem(response, 413, "payload_too_large")
    assert _info(client, field, photo["id"])["received"] is False
    _nothing_stored(small)


def test_upload_at_the_limit_is_accepted(field, make_app):
    """An upload of exactly PHOTO_MAX_BYTES is accepted."""
    data = make_jpeg((300, 200))
    client = make_app(PHOTO_MAX_BYTES=len(data)).test_client()
    [photo] = _declare(client, field, data)
    assert put_photo(client, field.headers, photo["id"], data).status_code == 201


def test_large_photo_above_the_json_limit_is_accepted(field, client):
    """A photo above MAX_CONTENT_LENGTH (2 MiB, for JSON) but below PHOTO_MAX_BYTES is accepted."""
    data = _noise_jpeg((1500, 1500))
    assert len(data) > 2 * 1024 * 1024
    [photo] = _declare(client, field, data)
    response = put_photo(client, field.headers, photo["id"], data)
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["width"], response.get_json()["height"]) == (1500, 1500)


def test_text_is_unsupported_media(app, field, client):
    """Bytes that are not an image (text sent as image/jpeg) are 415 unsupported_media; nothing is kept."""
    data = b"this is stuff, not a photo\n"
    [photo] = _declare(client, field, data)
    assert_problem(put_photo(client, field.headers, photo["id"], data), 415, "unsupported_media")
    assert _info(client, field, photo["id"])["received"] is False
    _nothing_stored(app)


def test_gif_is_unsupported_media(field, client):
    """A GIF, a real image of a type the contract does not list, is 415 unsupported_media."""
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    [photo] = _declare(client, field, out.getvalue())
    assert_problem(put_photo(client, field.headers, photo["id"], out.getvalue(), content_type="image/gif"), 415,
                   "unsupported_media")


def test_truncated_jpeg_is_corrupt_image(app, field, client):
    """A JPEG cut in the middle of its pixels is 422 corrupt_image and nothing is kept."""
    whole = _noise_jpeg((256, 256))
    data = whole[: len(whole) // 2]
    [photo] = _declare(client, field, data)
    assert_problem(put_photo(client, field.headers, photo["id"], data), 422, "corrupt_image")
    assert _info(client, field, photo["id"])["received"] is False
    _nothing_stored(app)


def test_image_above_the_pixel_limit_is_corrupt_image(app, field, make_app):
    """An image with more pixels than PHOTO_MAX_PIXELS is 422 corrupt_image and nothing is kept."""
    small = make_app(PHOTO_MAX_PIXELS=3000)
    client = small.test_client()
    data = make_jpeg((64, 48))  # 3072 pixels
    [photo] = _declare(client, field, data)
    assert_problem(put_photo(client, field.headers, photo["id"], data), 422, "corrupt_image")
    _nothing_stored(small)
    assert put_photo(client, field.headers, photo["id"], data).status_code == 422
    assert make_app().test_client().put(f"{PHOTOS}/{photo['id']}", data=data, headers={
        **field.headers, "Content-Type": "image/jpeg", "X-Content-SHA256": sha256(data)}).status_code == 201


def test_original_is_served_byte_for_byte_with_the_sniffed_type(field, client):
    """A PNG sent as image/jpeg is stored as image/png and served back byte for byte with that type."""
    data = make_png()
    [photo] = _declare(client, field, data)
    upload = put_photo(client, field.headers, photo["id"], data, content_type="image/jpeg")
    assert upload.status_code == 201 and upload.get_json()["content_type"] == "image/png"
    original = client.get(f"{PHOTOS}/{photo['id']}", headers=field.headers)
    assert original.status_code == 200
    assert original.mimetype == "image/png"
    assert original.get_data() == data
    assert original.headers["X-Content-Type-Options"] == "nosniff"


def test_jpeg_original_is_kept_with_its_exif(field, client, shared_photos):
    """The original of a camera JPEG is served unchanged, EXIF included."""
    data = (shared_photos / "orientation" / "Portrait_6.jpg").read_bytes()
    [photo] = _declare(client, field, data)
    assert put_photo(client, field.headers, photo["id"], data).status_code == 201
    original = client.get(f"{PHOTOS}/{photo['id']}", headers=field.headers)
    assert original.mimetype == "image/jpeg" and sha256(original.get_data()) == sha256(data)


@pytest.mark.parametrize("name, stored, upright", [("Portrait_6.jpg", (1800, 1200), "portrait"),
                                                    ("Landscape_6.jpg", (1200, 1800), "landscape"),
                                                    ("Landscape_3.jpg", (1800, 1200), "landscape")])
def test_renditions_are_upright_jpegs(field, client, shared_photos, name, stored, upright):
    """display (≤1600 px) and thumbnail (≤320 px) are JPEGs turned upright per EXIF orientation."""
    data = (shared_photos / "orientation" / name).read_bytes()
    [photo] = _declare(client, field, data)
    body = put_photo(client, field.headers, photo["id"], data).get_json()
    assert (body["width"], body["height"]) == stored
    with Image.open(io.BytesIO(data)) as source:
        expected = ImageOps.exif_transpose(source).convert("RGB")
    for rendition, longest in (("display", 1600), ("thumbnail", 320)):
        response = client.get(f"{PHOTOS}/{photo['id']}/{rendition}", headers=field.headers)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        image = Image.open(io.BytesIO(response.get_data()))
        assert image.format == "JPEG"
        assert max(image.size) == longest
        width, height = image.size
        assert (height > width) if upright == "portrait" else (width > height)
        # The pixels, not only the size, are turned: compare with the upright original at the same size.
        reference = expected.resize(image.size).convert("L").resize((16, 16))
        got = image.convert("L").resize((16, 16))
        difference = sum(abs(a - b) for a, b in zip(reference.getdata(), got.getdata())) / 256
        assert difference < 12, difference


def test_small_photo_is_not_upscaled(field, client):
    """A 64×48 photo keeps its size in both renditions."""
    data = make_jpeg((64, 48))
    [photo] = _declare(client, field, data)
    put_photo(client, field.headers, photo["id"], data)
    for rendition in ("display", "thumbnail"):
        response = client.get(f"{PHOTOS}/{photo['id']}/{rendition}", headers=field.headers)
        image = Image.open(io.BytesIO(response.get_data()))
        assert image.size == (64, 48)


def test_photo_not_received_yet_is_not_found(field, client):
    """The original and renditions of a declared photo whose bytes have not arrived are 404 not_found."""
    [photo] = _declare(client, field, make_jpeg())
    for suffix in ("", "/display", "/thumbnail"):
        response = client.get(f"{PHOTOS}/{photo['id']}{suffix}", headers=field.headers)
        assert_problem(response, 404, "not_found")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_photo_without_gps_is_flagged(field, client):
    """A photo without GPS is kept with the flag photo_without_gps, also listed on its inspection."""
    data = make_png()
    payload = inspection_payload(field.subject, photos=[photo_decl(data)])
    submit(client, field.headers, payload)
    photo_id = payload["photos"][0]["id"]
    body = put_photo(client, field.headers, photo_id, data).get_json()
    assert body["gps"] is None and body["taken_at"] is None
    assert [f["code"] for f in body["flags"]] == ["photo_without_gps"]
    inspection = client.get(f"/api/v1/inspections/{payload['id']}", headers=field.headers).get_json()
    assert [(f["code"], f.get("photo_id")) for f in inspection["flags"]] == [("photo_without_gps", photo_id)]


def test_photo_far_from_subject_is_flagged(field, client):
    """A photo whose GPS is 1 km from the subject carries photo_far_from_subject only."""
    position = offset_m((field.subject.lat, field.subject.lon), north_m=1000)
    data = make_jpeg(gps=position, taken_at=local_now().replace(tzinfo=None) - timedelta(minutes=20))
    [photo] = _declare(client, field, data)
    body = put_photo(client, field.headers, photo["id"], data).get_json()
    assert abs(body["gps"]["lat"] - position[0]) < 1e-6 and abs(body["gps"]["lon"] - position[1]) < 1e-6
    assert [f["code"] for f in body["flags"]] == ["photo_far_from_subject"]


def test_photo_taken_years_before_the_visit_is_flagged(field, client):
    """A photo shot years before the visit (at the subject) carries photo_taken_before_visit only."""
    data = make_jpeg(gps=(field.subject.lat, field.subject.lon), taken_at=datetime(2019, 3, 1, 10, 0, 0))
    [photo] = _declare(client, field, data)
    body = put_photo(client, field.headers, photo["id"], data).get_json()
    assert body["taken_at"] == "2019-03-01T10:00:00+08:00"
    assert [f["code"] for f in body["flags"]] == ["photo_taken_before_visit"]


def test_photo_at_the_subject_during_the_visit_has_no_flag(field, client):
    """A photo taken at the subject during the visit carries no flag."""
    started = local_now() - timedelta(minutes=30)
    data = make_jpeg(gps=offset_m((field.subject.lat, field.subject.lon), east_m=30),
                     taken_at=(started + timedelta(minutes=5)).replace(tzinfo=None))
    [photo] = _declare(client, field, data, started_at=started.isoformat(), finished_at=None)
    assert put_photo(client, field.headers, photo["id"], data).get_json()["flags"] == []


def _fixed_on_the_spot(client, field, *, started, taken_at) -> tuple[dict, dict]:
    """Submit a visit started at ``started`` (now: 30 min later) with a hazard fixed on the spot, its after photo
    shot at ``taken_at`` (local); upload the photo; return the upload's answer and the stored inspection."""
    hazard = hazard_item("G03C", fixed_on_spot=True)
    data = make_jpeg(gps=(field.subject.lat, field.subject.lon), taken_at=taken_at.replace(tzinfo=None))
    after = photo_decl(data, role="after", hazard_id=hazard["id"])
    payload = inspection_payload(field.subject, hazards=[hazard], photos=[after], started_at=started.isoformat(),
                                 finished_at=None)
    submit(client, field.headers, payload)
    upload = put_photo(client, field.headers, after["id"], data)
    assert upload.status_code == 201, upload.get_json()
    inspection = client.get(f"/api/v1/inspections/{payload['id']}", headers=field.headers).get_json()
    return upload.get_json(), inspection


def test_after_photo_of_a_fix_on_the_spot_during_the_visit_has_no_flag(field, client):
    """The after photo of a hazard fixed on the spot, shot after the visit started but before the phone sent the
    inspection (so before the server received the hazard), is not flagged photo_taken_before_report."""
    started = local_now() - timedelta(minutes=30)
    photo, inspection = _fixed_on_the_spot(client, field, started=started, taken_at=started + timedelta(minutes=20))
    assert photo["flags"] == []
    assert inspection["flags"] == []
    [hazard] = inspection["hazards"]
    assert hazard["status"] == "closed" and hazard["fixed_on_spot"] is True
    # The photo was taken before the hazard reached the server: the reference is the visit, not the receipt.
    assert datetime.fromisoformat(photo["taken_at"]) < datetime.fromisoformat(hazard["created_at"])


def test_after_photo_of_a_fix_on_the_spot_before_the_visit_is_flagged(field, client):
    """An after photo shot before the visit started (the hazard was not found yet) is flagged
    photo_taken_before_report, on the photo and in the inspection's flags."""
    started = local_now() - timedelta(minutes=30)
    photo, inspection = _fixed_on_the_spot(client, field, started=started, taken_at=started - timedelta(hours=2))
    assert [f["code"] for f in photo["flags"]] == ["photo_taken_before_report"]
    assert [(f["code"], f["photo_id"]) for f in inspection["flags"]] == [("photo_taken_before_report", photo["id"])]


def test_photo_flag_thresholds_are_settings(field, make_app):
    """With FLAG_PHOTO_FAR_M=2000 and FLAG_PHOTO_AGE_HOURS=100000 those photo flags are not raised."""
    client = make_app(FLAG_PHOTO_FAR_M=2000.0, FLAG_PHOTO_AGE_HOURS=100_000.0).test_client()
    data = make_jpeg(gps=offset_m((field.subject.lat, field.subject.lon), north_m=1000),
                     taken_at=datetime(2019, 3, 1, 10, 0, 0))
    [photo] = _declare(client, field, data)
    assert put_photo(client, field.headers, photo["id"], data).get_json()["flags"] == []


def test_upload_is_for_inspectors_and_leaders(app, field, client):
    """A committee member, who sees every district, may not upload: 403 forbidden."""
    data = make_jpeg()
    [photo] = _declare(client, field, data)
    with app.app_context():
        make_user("committee", roles=["committee"], districts=[])
    committee = login(client, "committee")
    assert_problem(put_photo(client, committee, photo["id"], data), 403, "forbidden")
    assert client.get(f"{PHOTOS}/{photo['id']}/info", headers=committee).status_code == 200


def test_photo_declared_twice_in_two_inspections_shares_the_bytes(app, field, client):
    """Two photo ids with the same bytes are both stored; the store keeps one original."""
    data = make_jpeg()
    [first] = _declare(client, field, data)
    [second] = _declare(client, field, data)
    assert put_photo(client, field.headers, first["id"], data).status_code == 201
    assert put_photo(client, field.headers, second["id"], data).status_code == 201
    originals = [p for p in files_under(os.path.join(app.config["PHOTO_ROOT"], "store")) if p.name == sha256(data)]
    assert len(originals) == 1
    assert client.get(f"{PHOTOS}/{second['id']}", headers=field.headers).get_data() == data
