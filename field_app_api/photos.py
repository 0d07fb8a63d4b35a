"""Uploading photo bytes and reading them back."""

from __future__ import annotations

from flask import current_app, request, send_file
from flask_smorest import Blueprint

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, login_required, visible_districts
from server import database
from server.accounts.enums import Role
from server.extensions import db
from server.photos import service as photo_service

blp = Blueprint("photos", __name__, description="Photos")

UPLOAD_DOC = {
    "security": SECURITY,
    "parameters": [{"in": "header", "name": "X-Content-SHA256", "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}],
    "requestBody": {"required": True, "content": {
        t: {"schema": {"type": "string", "format": "binary"}}
        for t in ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")}},
}


@blp.route("/photos/<uuid:photo_id>", methods=["PUT"])
@login_required(Role.INSPECTOR, Role.LEADER)
@blp.response(201, schemas.PhotoSchema)
@blp.alt_response(200, schema=schemas.PhotoSchema, description="The same bytes were already stored")
@blp.doc(**UPLOAD_DOC)
def upload(photo_id):
    """Send the bytes of a declared photo; sending them again is safe."""
    # The lookups are plain reads, ended before the bytes stream in and are decoded: nothing may hold
    # the database meanwhile (on SQLite a writer's transaction is the write lock for everyone).
    # Only the final UPDATE takes the write lock.
    with database.reading():
        photo = photo_service.get(photo_id=photo_id, districts=visible_districts())
        reference = photo_service.flag_reference(photo) if photo.received_at is None else None
    database.end_reading()
    request.max_content_length = int(current_app.config["PHOTO_MAX_BYTES"])
    stored = photo_service.receive(photo=photo, stream=request.stream, reference=reference,
                                   declared_sha256=request.headers.get("X-Content-SHA256"))
    db.session.commit()
    return shapes.photo(photo), 201 if stored else 200


def _send(photo_id, rendition: str | None):
    photo = photo_service.get(photo_id=photo_id, districts=visible_districts())
    handle = photo_service.open_bytes(photo=photo, rendition=rendition)
    mimetype = photo.content_type if rendition is None else "image/jpeg"
    response = send_file(handle, mimetype=mimetype, etag=f"{photo.sha256}-{rendition or 'original'}",
                         max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = "inline"
    return response


BYTES_DOC = {"security": SECURITY, "responses": {"200": {"description": "The image bytes",
                                                         "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}}}


@blp.route("/photos/<uuid:photo_id>", methods=["GET"])
@login_required()
@blp.doc(**BYTES_DOC)
def original(photo_id):
    """Return the original bytes, exactly as received."""
    return _send(photo_id, None)


@blp.route("/photos/<uuid:photo_id>/display", methods=["GET"])
@login_required()
@blp.doc(**BYTES_DOC)
def display(photo_id):
    """Return a JPEG for viewing (longest side at most 1600 px), upright."""
    return _send(photo_id, "display")


@blp.route("/photos/<uuid:photo_id>/thumbnail", methods=["GET"])
@login_required()
@blp.doc(**BYTES_DOC)
def thumbnail(photo_id):
    """Return a JPEG thumbnail (longest side at most 320 px), upright."""
    return _send(photo_id, "thumbnail")


@blp.route("/photos/<uuid:photo_id>/info", methods=["GET"])
@login_required()
@blp.response(200, schemas.PhotoSchema)
@blp.doc(security=SECURITY)
def info(photo_id):
    """Return what is known of a photo: declared, received, EXIF and flags."""
    return shapes.photo(photo_service.get(photo_id=photo_id, districts=visible_districts()))
