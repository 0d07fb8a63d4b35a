"""Photos for the console's pages, with the same district scoping as the API."""

from __future__ import annotations

from flask import send_file

from server.console import auth, bp
from server.errors import ProblemError
from server.photos import service as photo_service

RENDITIONS = {"thumbnail": "thumbnail", "display": "display", "original": None}


@bp.route("/photos/<uuid:photo_id>/<rendition>")
def photo(photo_id, rendition):
    """Send a photo (thumbnail, display or original) the user may see."""
    if rendition not in RENDITIONS:
        raise ProblemError("not_found", "No such rendition.")
    row = photo_service.get(photo_id=photo_id, districts=auth.visible())
    name = RENDITIONS[rendition]
    handle = photo_service.open_bytes(photo=row, rendition=name)
    response = send_file(handle, mimetype=row.content_type if name is None else "image/jpeg",
                         etag=f"{row.sha256}-{rendition}", max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
