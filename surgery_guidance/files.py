"""Files the media workers write (recordings, HLS), served safely.

Paths come from the worker and are relative to ``settings.MEDIA_OUTPUT_DIR``;
they are resolved and must stay inside it. Recordings are served with HTTP
range requests, which browsers need to seek in an MP4.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


def output_path(relative: str) -> Path:
    """``relative`` under the media output root, or 404 if it escapes or is missing."""
    root = Path(settings.MEDIA_OUTPUT_DIR).resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        raise Http404()
    return path


def ranged_file_response(
    request: HttpRequest, path: Path, content_type: str
) -> HttpResponse:
    """The file, or the one byte range the request asks for (206)."""
    size = path.stat().st_size
    header = request.headers.get("Range", "")
    match = _RANGE.match(header.strip()) if header else None
    if match is None or (not match.group(1) and not match.group(2)):
        response = FileResponse(path.open("rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # a suffix range: the last N bytes
        start = max(0, size - int(last))
        end = size - 1
    if start > end or start >= size:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    handle = path.open("rb")
    handle.seek(start)

    def chunks():  # type: ignore[no-untyped-def]
        remaining = length
        try:
            while remaining > 0:
                data = handle.read(min(_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data
        finally:
            handle.close()

    response = StreamingHttpResponse(chunks(), status=206, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
