"""The private ``.ics`` feed, and the API to create or revoke it."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.exceptions import NotFound
from consult.scheduling import ical


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed a token opens; a revoked or unknown token is a plain 404."""
    try:
        feed = ical.calendar_feed_resolve(token)
    except NotFound as exc:
        raise Http404 from exc
    body = ical.calendar_build(
        feed.user,
        host=request.get_host().rsplit(":", 1)[0],
        base_url=request.build_absolute_uri("/"),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="consultations.ics"'
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex"
    return response


class CalendarFeedView(APIView):
    """Create your calendar feed (the URL is shown once) or revoke it."""

    @extend_schema(request=None, responses={201: dict})
    def post(self, request: Request) -> Response:
        feed, raw = ical.calendar_feed_create(user=request.user)
        namespace = request.resolver_match.namespace if request.resolver_match else ""
        name = f"{namespace}:feed" if namespace else "feed"
        url = request.build_absolute_uri(reverse(name, kwargs={"token": raw}))
        return Response(
            {"url": url, "created_at": feed.created_at.isoformat()},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        ical.calendar_feed_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
