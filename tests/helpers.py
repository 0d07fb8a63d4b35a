"""Small factories and helpers shared by the tests: ``make_<thing>(**overrides)``."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import datetime, timedelta, timezone

from server.accounts import service as account_service
from server.extensions import db
from server.registry import credit_code
from server.registry.models import Enterprise, Subject, SubjectEnterprise

PASSWORD = "correct horse battery"
_counter = itertools.count(1)

# 兴庆区 near 解放东街, WGS-84
YINCHUAN = (38.4680, 106.2850)


def make_user(username: str | None = None, *, roles=("inspector",), districts=("640104",), password=PASSWORD, name=None):
    """Create and commit a user."""
    user = account_service.create_user(username=username or f"user{next(_counter)}", password=password,
                                       roles=list(roles), districts=list(districts), name=name)
    db.session.commit()
    return user


def valid_credit_code(seed: int) -> str:
    """Return a unified social credit code with a correct check character."""
    first17 = f"91640104MA{seed:07d}"
    return first17 + credit_code.check_char(first17)


def make_enterprise(**overrides) -> Enterprise:
    """Create and commit an enterprise."""
    n = next(_counter)
    values = dict(credit_code=valid_credit_code(n), name=f"测试企业{n}有限公司", kind="gas_operator")
    values.update(overrides)
    enterprise = Enterprise(**values)
    db.session.add(enterprise)
    db.session.commit()
    return enterprise


def make_subject(*, enterprises=(), **overrides) -> Subject:
    """Create and commit a subject (a gas user in 兴庆区 unless told otherwise)."""
    n = next(_counter)
    values = dict(domain="gas", name=f"用户{n}", address=f"兴庆区解放东街{n}号", district_code="640104",
                  lat=YINCHUAN[0], lon=YINCHUAN[1], external_ref=f"T-{n:06d}", attributes={})
    values.update(overrides)
    subject = Subject(**values)
    subject.enterprise_links = [SubjectEnterprise(enterprise_id=e.id) for e in enterprises]
    db.session.add(subject)
    db.session.commit()
    return subject


def login(client, username: str, password: str = PASSWORD) -> dict:
    """Sign in through the API and return the Authorization header."""
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso(dt: datetime) -> str:
    return dt.isoformat()


def inspection_payload(subject, *, checklist=("gas-user", 1), hazards=(), photos=(), **overrides) -> dict:
    """Return a valid inspection submission for a subject; override any field."""
    started = datetime.now(timezone(timedelta(hours=8))) - timedelta(minutes=30)
    payload = {
        "id": str(uuid.uuid4()),
        "subject_id": str(subject.id),
        "checklist": {"code": checklist[0], "version": checklist[1]},
        "started_at": iso(started),
        "finished_at": iso(started + timedelta(minutes=20)),
        "location": {"lat": subject.lat, "lon": subject.lon, "accuracy_m": 8.0, "crs": "wgs84"},
        "results": [],
        "hazards": list(hazards),
        "photos": list(photos),
        "note": "入户检查",
    }
    payload.update(overrides)
    return payload


def hazard_item(item: str = "G02", **overrides) -> dict:
    """Return one hazard of a submission."""
    value = {"id": str(uuid.uuid4()), "item": item, "description": "未安装自闭阀", "severity": "general",
             "fixed_on_spot": False}
    value.update(overrides)
    return value


# --- added for the API suite -------------------------------------------------------------------

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")


def assert_problem(response, status: int, code: str) -> dict:
    """Assert an RFC 9457 problem answer with this status and code; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    for field in PROBLEM_FIELDS:
        assert field in body, (field, body)
    assert body["status"] == status and body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def photo_decl(data: bytes, *, role: str = "evidence", hazard_id: str | None = None, **overrides) -> dict:
    """Return a photo declaration of a submission for these bytes."""
    value = {"id": str(uuid.uuid4()), "sha256": sha256(data), "role": role}
    if hazard_id is not None:
        value["hazard_id"] = hazard_id
    value.update(overrides)
    return value


def put_photo(client, headers: dict, photo_id: str, data: bytes, *, content_type: str = "image/jpeg",
              digest: str | None = None, with_digest: bool = True):
    """Send a photo's bytes with the SHA-256 header (the bytes' own unless ``digest`` is given)."""
    extra = {"Content-Type": content_type}
    if with_digest:
        extra["X-Content-SHA256"] = digest or sha256(data)
    return client.put(f"/api/v1/photos/{photo_id}", data=data, headers={**headers, **extra})


def submit(client, headers: dict, payload: dict, status: int = 201) -> dict:
    """Post an inspection and assert the status; return the JSON answer."""
    response = client.post("/api/v1/inspections", json=payload, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 6)
    return float(degrees), float(minutes), seconds


def make_jpeg(size=(64, 48), *, gps: tuple[float, float] | None = None, taken_at: datetime | None = None,
              orientation: int | None = None, color=(180, 60, 40)) -> bytes:
    """Return a small JPEG made here, with the EXIF GPS, DateTimeOriginal and Orientation asked for."""
    import io

    from PIL import Image

    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if taken_at is not None:
        exif.get_ifd(0x8769)[0x9003] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    if gps is not None:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
        ifd[3], ifd[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def make_png(size=(40, 30)) -> bytes:
    """Return a small PNG without metadata."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


def files_under(path) -> list:
    """Return every file below ``path`` (none when it does not exist)."""
    from pathlib import Path

    root = Path(path)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def local_now() -> datetime:
    """Return the current time in the bureau's zone (UTC+8)."""
    return datetime.now(timezone(timedelta(hours=8)))


def offset_m(position: tuple[float, float], north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """Return a position moved by metres north and east (good enough below a few km)."""
    import math

    lat, lon = position
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))
