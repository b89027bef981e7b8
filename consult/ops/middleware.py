"""Request counting and timing for Prometheus, labelled by route pattern."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from consult.ops.metrics import LATENCY, REQUESTS


class RequestMetricsMiddleware:
    """Count and time every request by method, resolved route and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route pattern keeps label cardinality bounded (ids never become labels).
        route = match.route if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "OTHER"
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
