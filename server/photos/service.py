"""Rules of photos: declaring them, receiving their bytes once, serving originals and renditions."""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from server import clock
from server.database import utcnow
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Inspection
from server.registry.models import Subject
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.geo import crs
from server.photos import pipeline
from server.photos.models import Photo
from server.photos.storage import LocalStorage, Storage, sweep_temporary_files


# Built once (see server/inspections/service.py): declaring photos is on every submission's path.
_PHOTOS_TAKEN = select(Photo.id).where(Photo.id.in_(bindparam("ids", expanding=True)))
_INSERT_PHOTO = Photo.__table__.insert()


def init_app(app: Flask) -> None:
    """Create the photo store chosen by configuration and the folder for uploads in progress."""
    root = Path(app.config["PHOTO_ROOT"])
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    kind = app.config.get("PHOTO_STORAGE", "local")
    # Uploads and writes cut short by a killed worker leave temporary files: remove those of dead processes.
    sweep_temporary_files(root / "tmp")
    if kind == "local":
        app.extensions["photo_storage"] = LocalStorage(root / "store")
        sweep_temporary_files(root / "store")
    elif kind == "s3":
        from server.photos.s3 import S3Storage

        app.extensions["photo_storage"] = S3Storage(
            bucket=app.config["S3_BUCKET"], prefix=app.config.get("S3_PREFIX", ""),
            endpoint_url=app.config.get("S3_ENDPOINT_URL"), region=app.config.get("S3_REGION"),
            access_key_id=app.config.get("S3_ACCESS_KEY_ID"), secret_access_key=app.config.get("S3_SECRET_ACCESS_KEY"))
    else:
        raise RuntimeError(f"QINGLING_PHOTO_STORAGE must be local or s3, not {kind!r}")


def storage() -> Storage:
    """Return the configured photo store."""
    return current_app.extensions["photo_storage"]


def rendition_key(sha256: str, name: str) -> str:
    """Return the storage key of a rendition of a photo's bytes."""
    return f"{sha256}.{name}.jpg"


def declare(*, photos: list[dict], actor_id: int, district_code: str, subject_id: uuid.UUID,
            inspection_id: uuid.UUID | None = None, event_id: int | None = None, field: str = "photos") -> list[Photo]:
    """Record photos announced by id and SHA-256 before their bytes arrive; 409 if an id is taken."""
    rows = [Photo(**row) for row in declared_rows(
        photos=photos, actor_id=actor_id, district_code=district_code, subject_id=subject_id,
        inspection_id=inspection_id, event_id=event_id, at=utcnow(), field=field)]
    db.session.add_all(rows)
    return rows


def declared_rows(*, photos: list[dict], actor_id: int, district_code: str, subject_id: uuid.UUID, at,
                  inspection_id: uuid.UUID | None = None, event_id: int | None = None,
                  field: str = "photos") -> list[dict]:
    """Check photos announced by id and SHA-256 (422 if listed twice, 409 if an id is taken); return their rows.

    Reads only (one query); ``insert_declared`` writes the rows.
    """
    ids = [item["id"] for item in photos]
    taken = set(db.session.connection().execute(_PHOTOS_TAKEN, {"ids": ids}).scalars()) if ids else set()
    seen: set[uuid.UUID] = set()
    rows = []
    for index, item in enumerate(photos):
        if item["id"] in seen:
            raise validation_error(f"{field}.{index}.id", "listed twice")
        seen.add(item["id"])
        if item["id"] in taken:
            raise ProblemError("conflict", f"Photo {item['id']} was already declared elsewhere.")
        rows.append(dict(
            id=item["id"], sha256=item["sha256"].lower(), role=item["role"], district_code=district_code,
            subject_id=subject_id, inspection_id=inspection_id, hazard_id=item.get("hazard_id"), event_id=event_id,
            declared_by=actor_id, declared_at=at, received_at=None, content_type=None, size=None, width=None,
            height=None, orientation=None, taken_at=None, gps_lat=None, gps_lon=None, make=None, model=None,
            flags=[]))
    return rows


def insert_declared(rows: list[dict]) -> None:
    """Write the rows of declared photos in one multi-row INSERT."""
    db.session.connection().execute(_INSERT_PHOTO, rows)


def get(*, photo_id: uuid.UUID, districts: frozenset[str] | None) -> Photo:
    """Return a photo visible to the caller, or 404 without revealing that it exists."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or (districts is not None and photo.district_code not in districts):
        raise ProblemError("not_found", "No such photo.")
    return photo


def receive(*, photo: Photo, stream, declared_sha256: str | None, reference: dict | None = None) -> bool:
    """Store the bytes of a declared photo; return True when stored now, False when they already were.

    The upload is streamed to a temporary file under the size cap and hashed
    on the way; the bytes must hash to the declared SHA-256; the type is
    sniffed from the bytes; the pixels must decode fully. The original and its
    renditions are written to storage before the row says "received", so a
    row never points at missing bytes. None of this needs the database: the
    caller holds no transaction meanwhile, and only the final UPDATE (and, unless
    ``reference`` from ``flag_reference()`` is given, the reads it needs) writes.
    """
    config = current_app.config
    if not declared_sha256:
        raise validation_error("X-Content-SHA256", "send the SHA-256 of the body in this header")
    declared_sha256 = declared_sha256.strip().lower()
    tmp_dir = Path(config["PHOTO_ROOT"]) / "tmp"
    try:
        received = pipeline.receive(stream, directory=tmp_dir, max_bytes=int(config["PHOTO_MAX_BYTES"]))
    except pipeline.PhotoRejected as rejected:
        raise ProblemError(rejected.code, rejected.detail) from None
    try:
        if received.sha256 != declared_sha256:
            raise ProblemError("digest_mismatch", "The bytes do not hash to the SHA-256 in X-Content-SHA256.")
        if received.sha256 != photo.sha256:
            raise ProblemError("digest_mismatch", "The bytes do not hash to the SHA-256 declared for this photo.")
        if photo.received_at is not None:
            return False
        try:
            info, renditions = _process(received.path)
        except pipeline.PhotoRejected as rejected:
            raise ProblemError(rejected.code, rejected.detail) from None
        store = storage()
        for name, data in renditions.items():
            store.put_bytes(rendition_key(received.sha256, name), data)
        store.put_file(received.sha256, received.path)
    finally:
        received.path.unlink(missing_ok=True)
    taken_at = info.taken_at(clock.zone())
    if reference is None:
        reference = flag_reference(photo)
    values = dict(received_at=utcnow(), content_type=info.content_type, size=received.size, width=info.width,
                  height=info.height, orientation=info.orientation, taken_at=taken_at,
                  gps_lat=info.gps[0] if info.gps else None, gps_lon=info.gps[1] if info.gps else None,
                  make=info.make, model=info.model, flags=photo_flags(info.gps, taken_at, reference))
    # Of concurrent uploads of one photo, exactly one marks it received.
    result = db.session.execute(update(Photo).where(Photo.id == photo.id, Photo.received_at.is_(None))
                                .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(photo)  # another upload of the same bytes won: answer with what it stored
        return False
    for key, value in values.items():  # what was just written, without reading it back
        set_committed_value(photo, key, value)
    return True


def flag_reference(photo: Photo) -> dict:
    """Return what a photo is compared with (see ``photo_flags``): the subject's position, the visit time,
    and for an after photo when its hazard was found; read before the bytes are processed."""
    position = db.session.execute(select(Subject.lat, Subject.lon).where(Subject.id == photo.subject_id)).one()
    reference = {"position": tuple(position)}
    if photo.inspection_id is not None:
        reference["visit_at"] = db.session.scalar(
            select(Inspection.started_at).where(Inspection.id == photo.inspection_id))
    elif photo.event_id is not None:
        reference["visit_at"] = db.session.scalar(select(HazardEvent.at).where(HazardEvent.id == photo.event_id))
    if photo.role == "after" and photo.hazard_id is not None:
        reference["found_at"] = found_at(photo.hazard_id)
    return reference


def found_at(hazard_id: uuid.UUID):
    """Return when a hazard was found: the start of the visit that reported it.

    Not the hazard's ``created_at``, which is when the server received the
    submission, after the visit: an after photo of a fix on the spot is taken
    in between, and an after photo can only be honest if taken after this.
    """
    return db.session.scalar(select(Inspection.started_at).join(Hazard, Hazard.inspection_id == Inspection.id)
                             .where(Hazard.id == hazard_id))


def _process(path: Path) -> tuple[pipeline.PhotoInfo, dict[str, bytes]]:
    """Prove the pixels whole, read the metadata, and make the renditions.

    The thumbnail is made from the display rendition: a HEIC decodes at full
    size every time it is opened, and a 1600 px JPEG is far cheaper to decode.
    """
    config = current_app.config
    max_pixels = int(config["PHOTO_MAX_PIXELS"])
    info = pipeline.inspect(path, max_pixels=max_pixels)
    display = pipeline.render(path, max_side=int(config["PHOTO_DISPLAY_PX"]), max_pixels=max_pixels)
    display_path = path.with_name(path.name + ".display.jpg")
    try:
        display_path.write_bytes(display)
        thumbnail = pipeline.render(display_path, max_side=int(config["PHOTO_THUMBNAIL_PX"]))
    finally:
        display_path.unlink(missing_ok=True)
    return info, {"display": display, "thumbnail": thumbnail}


def photo_flags(gps, taken_at, reference: dict) -> list[dict]:
    """Return the warnings about a photo: no GPS, far from the subject, taken long before the visit, and
    an after photo taken before its hazard was found."""
    config = current_app.config
    flags = []
    if gps is None:
        flags.append({"code": "photo_without_gps", "detail": "The photo carries no usable GPS position."})
    elif reference.get("position") is not None:
        distance = crs.distance_m(gps, reference["position"])
        if distance > float(config["FLAG_PHOTO_FAR_M"]):
            flags.append({"code": "photo_far_from_subject",
                          "detail": f"The photo was taken {distance:.0f} m from the subject."})
    if taken_at is not None and reference.get("visit_at") is not None:
        age_h = (reference["visit_at"] - taken_at).total_seconds() / 3600
        if age_h > float(config["FLAG_PHOTO_AGE_HOURS"]):
            flags.append({"code": "photo_taken_before_visit",
                          "detail": f"The photo was taken {age_h:.0f} h before the visit."})
    if taken_at is not None and reference.get("found_at") is not None and taken_at < reference["found_at"]:
        flags.append({"code": "photo_taken_before_report",
                      "detail": "This after photo was taken before the visit that found the hazard started."})
    return flags


def open_bytes(*, photo: Photo, rendition: str | None = None):
    """Return a binary file of the original bytes or of a rendition; 404 when not received yet."""
    if photo.received_at is None:
        raise ProblemError("not_found", "The bytes of this photo have not been received yet.")
    key = photo.sha256 if rendition is None else rendition_key(photo.sha256, rendition)
    return storage().open(key)


def missing(photos) -> list[uuid.UUID]:
    """Return the ids of photos whose bytes have not arrived."""
    return [p.id for p in photos if p.received_at is None]


def for_inspection(inspection_id: uuid.UUID) -> list[Photo]:
    """Return the photos declared in an inspection."""
    return list(db.session.scalars(select(Photo).where(Photo.inspection_id == inspection_id).order_by(Photo.declared_at, Photo.id)))


def for_events(event_ids: list[int]) -> dict[int, list[Photo]]:
    """Return the photos attached to each of the given hazard events."""
    result: dict[int, list[Photo]] = {}
    if event_ids:
        for photo in db.session.scalars(select(Photo).where(Photo.event_id.in_(event_ids))):
            result.setdefault(photo.event_id, []).append(photo)
    return result
