"""Service endpoints: /healthz and /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from consult.ops.metrics import exposition

logger = logging.getLogger(__name__)

_LAYER_TIMEOUT_S = 2.0


def _database_state() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001  (health must report, not raise)
        logger.warning("health: database unreachable: %s", type(exc).__name__)
        return {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}
    return {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


async def _layer_round_trip() -> dict[str, Any]:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "not_configured"}
    started = time.perf_counter()
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), _LAYER_TIMEOUT_S)
    return {
        "ok": message.get("token") == token,
        "backend": type(layer).__name__,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _channel_layer_state() -> dict[str, Any]:
    try:
        return async_to_sync(_layer_round_trip)()
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: channel layer failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def _media_state() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from consult.media.client import media_workers

    mode = settings.MEDIA_WORKERS
    try:
        workers = async_to_sync(media_workers)()
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: media workers unknown: %s", type(exc).__name__)
        return {"ok": False, "mode": mode, "error": type(exc).__name__}, []
    # Embedded, the worker starts with the first room: none yet is healthy.
    ok = bool(workers) or mode != "external"
    return {"ok": ok, "mode": mode, "live": len(workers)}, workers


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, channel layer and media workers; 503 when any is down."""
    media, media_workers = _media_state()
    checks = {
        "database": _database_state(),
        "channel_layer": _channel_layer_state(),
        "media": media,
    }
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {
            "status": "ok" if ok else "degraded",
            **checks,
            "media_workers": media_workers,
        },
        status=200 if ok else 503,
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition."""
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
