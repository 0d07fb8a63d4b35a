"""CSV and XLSX exports of the console's lists, streamed so that a long list never sits in memory.

CSV is UTF-8 with a byte order mark, so that Excel opens Chinese text
correctly; XLSX is written by openpyxl in write-only mode to a temporary file
(a ZIP cannot be streamed before it is finished) and then sent in chunks.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable
from urllib.parse import quote

from flask import Response, current_app, stream_with_context

from server.extensions import db

BOM = "\ufeff"
CHUNK = 64 * 1024


def _rows(query, shape: Callable, limit: int) -> Iterable[list]:
    """Yield the shaped rows of a query, reading it in batches."""
    result = db.session.execute(query.limit(limit).execution_options(yield_per=1000))
    try:
        for row in result:
            yield shape(row)
    finally:
        result.close()


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def csv_response(*, query, header: list[str], shape: Callable, filename: str) -> Response:
    """Stream a query as CSV (UTF-8 with BOM)."""
    limit = int(current_app.config.get("CONSOLE_EXPORT_MAX_ROWS", 200_000))

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write(BOM)
        writer.writerow(header)
        for count, row in enumerate(_rows(query, shape, limit), start=1):
            writer.writerow(["" if v is None else v for v in row])
            if count % 500 == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = _disposition(filename)
    return response


def xlsx_response(*, query, header: list[str], shape: Callable, filename: str, title: str) -> Response:
    """Write a query to an XLSX workbook (write-only mode) and send it."""
    from openpyxl import Workbook

    limit = int(current_app.config.get("CONSOLE_EXPORT_MAX_ROWS", 200_000))
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in _rows(query, shape, limit):
        sheet.append(["" if v is None else v for v in row])
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    size = handle.tell()
    handle.seek(0)

    def generate():
        try:
            while chunk := handle.read(CHUNK):
                yield chunk
        finally:
            handle.close()

    response = Response(generate(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = _disposition(filename)
    return response


def export(fmt: str, **kwargs) -> Response:
    """Answer ?format=csv or ?format=xlsx."""
    if fmt == "xlsx":
        return xlsx_response(**kwargs)
    kwargs.pop("title", None)
    return csv_response(**kwargs)
