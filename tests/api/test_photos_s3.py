"""Photos in an S3-compatible object store (a real server process): upload, renditions, download, readiness."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from helpers import inspection_payload, login, make_enterprise, make_jpeg, make_subject, make_user, photo_decl, \
    put_photo, sha256, submit


@pytest.fixture
def s3_app(make_app, s3_server, s3_bucket):
    return make_app(**s3_server.settings(s3_bucket))


def test_a_photo_goes_to_the_bucket_and_comes_back(s3_app, s3_server, s3_bucket):
    """The original byte for byte and both renditions are objects in the bucket, served back through the API."""
    client = s3_app.test_client()
    with s3_app.app_context():
        make_user("s3-inspector")
        subject = make_subject(enterprises=[make_enterprise()])
    headers = login(client, "s3-inspector")
    blob = make_jpeg((2400, 1800))
    declared = photo_decl(blob)
    submit(client, headers, inspection_payload(subject, photos=[declared]))
    assert put_photo(client, headers, declared["id"], blob).status_code == 201

    keys = {item["Key"] for item in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]}
    digest = sha256(blob)
    assert keys == {digest, f"{digest}.display.jpg", f"{digest}.thumbnail.jpg"}
    original = client.get(f"/api/v1/photos/{declared['id']}", headers=headers)
    assert original.status_code == 200 and original.data == blob
    display = client.get(f"/api/v1/photos/{declared['id']}/display", headers=headers)
    assert display.status_code == 200 and max(Image.open(io.BytesIO(display.data)).size) == 1600
    assert client.get("/readyz").get_json()["checks"]["photo_store"] == "ok"


def test_a_missing_bucket_makes_the_server_not_ready(make_app, s3_server):
    app = make_app(**s3_server.settings("bucket-that-was-never-made"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["photo_store"] != "ok"
