"""Closing evidence: the checks a reviewer sees before accepting a rectification."""

from __future__ import annotations

from flask import current_app

from server.geo import crs
from server.hazards.enums import Action
from server.hazards.models import Hazard
from server.photos import service as photo_service
from server.registry.models import Subject
from server.extensions import db


def checks(hazard: Hazard) -> list[dict]:
    """Check the after photos of the latest rectification: present, received, taken after the hazard was found
    (the start of the visit that reported it, see ``photo_service.found_at``), near the subject.

    Each check is ``{"code", "passed", "detail", "photo_id"?}``; a reviewer
    may accept despite a failed check only with a note, and that is recorded.
    """
    rectification = next((e for e in reversed(hazard.events) if e.type == Action.RECTIFY), None)
    if rectification is None:
        return []
    photos = [p for p in photo_service.for_events([rectification.id]).get(rectification.id, []) if p.role == "after"]
    if not photos:
        return [{"code": "after_photo_present", "passed": False, "detail": "整改后照片缺失 (no after photo)"}]
    subject = db.session.get(Subject, hazard.subject_id)
    limit_m = float(current_app.config["FLAG_PHOTO_FAR_M"])
    found = photo_service.found_at(hazard.id)
    result = []
    for photo in photos:
        pid = str(photo.id)
        if photo.received_at is None:
            result.append({"code": "after_photo_received", "passed": False, "photo_id": pid,
                           "detail": "照片尚未上传 (bytes not received)"})
            continue
        if photo.taken_at is None:
            result.append({"code": "after_photo_taken_after_report", "passed": False, "photo_id": pid,
                           "detail": "照片无拍摄时间 (no time in the photo)"})
        else:
            after = photo.taken_at >= found
            result.append({"code": "after_photo_taken_after_report", "passed": after, "photo_id": pid,
                           "detail": "拍摄于发现隐患之后" if after
                           else "拍摄于发现隐患之前 (taken before the visit that found it)"})
        if photo.gps_lat is None:
            result.append({"code": "after_photo_near_subject", "passed": False, "photo_id": pid,
                           "detail": "照片无定位 (no GPS)"})
        else:
            distance = crs.distance_m((photo.gps_lat, photo.gps_lon), (subject.lat, subject.lon))
            near = distance <= limit_m
            result.append({"code": "after_photo_near_subject", "passed": near, "photo_id": pid,
                           "detail": f"距检查对象 {distance:.0f} 米"})
    return result


def failed(results: list[dict]) -> list[dict]:
    """Return the failed checks."""
    return [c for c in results if not c["passed"]]
