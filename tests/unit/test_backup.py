"""A backup taken while serving, verified, and restored after a loss: the data and photos come back as they were."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select, text

from helpers import inspection_payload, login, make_enterprise, make_jpeg, make_subject, make_user, photo_decl, \
    put_photo, sha256, submit
from server.accounts.models import User
from server.extensions import db
from server.inspections.models import Inspection
from server.ops import backup
from server.photos.models import Photo
from server.photos.service import storage


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


def _an_inspection_with_a_photo(app, client) -> tuple[str, bytes]:
    with app.app_context():
        make_user("backup-inspector")
        subject = make_subject(enterprises=[make_enterprise()])
    headers = login(client, "backup-inspector")
    blob = make_jpeg((800, 600))
    declared = photo_decl(blob)
    payload = inspection_payload(subject, photos=[declared])
    submit(client, headers, payload)
    assert put_photo(client, headers, declared["id"], blob).status_code == 201
    return payload["id"], blob


def test_restore_brings_back_the_data_and_photos_of_the_backup(app, client, tmp_path):
    inspection_id, blob = _an_inspection_with_a_photo(app, client)
    with app.app_context():
        folder = backup.create(tmp_path / "backups")
        assert backup.verify(folder).ok
        # After the backup: a new account, then the disaster (the inspection and every photo file lost).
        make_user("after-backup")
        for table in ("photo", "inspection_result", "inspection"):
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        root = storage().root
        for path in root.rglob("*"):
            if path.is_file():
                path.unlink()
        result = backup.restore(folder)
        assert result["photos_copied"] == 3  # the original and its two renditions
    with app.app_context():
        assert db.session.get(Inspection, uuid.UUID(inspection_id)) is not None
        assert db.session.scalar(select(func.count()).select_from(Photo).where(Photo.received_at.is_not(None))) == 1
        assert db.session.scalar(select(User).where(User.username == "after-backup")) is None
        assert storage().exists(sha256(blob))
        with storage().open(sha256(blob)) as handle:
            assert handle.read() == blob


def test_an_altered_backup_is_refused(app, client, tmp_path):
    _an_inspection_with_a_photo(app, client)
    with app.app_context():
        folder = backup.create(tmp_path / "backups")
        manifest = json.loads((folder / backup.MANIFEST).read_text())
        photo = next(name for name in manifest["files"] if name.startswith("photos/"))
        (folder / photo).write_bytes(b"not the photo")
        (folder / "stray.txt").write_text("x")
        check = backup.verify(folder)
        assert check.problems == [f"{photo}: altered (SHA-256 differs)", "stray.txt: not in the manifest"]
        with pytest.raises(backup.BackupError, match="does not match its manifest"):
            backup.restore(folder)
        outcome = app.test_cli_runner().invoke(args=["backup", "verify", str(folder)])
        assert outcome.exit_code == 1 and "altered" in outcome.output
