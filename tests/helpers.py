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
