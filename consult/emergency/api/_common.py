"""What every emergency view shares."""

from __future__ import annotations

from rest_framework.request import Request

from consult.records.context import AccessContext


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")
