"""The calendar feed (include at ``/calendar/``)."""

from django.urls import path, re_path

from consult.scheduling import ical_views

app_name = "calendar"

urlpatterns = [
    path("feed/", ical_views.CalendarFeedView.as_view(), name="feed-manage"),
    re_path(
        r"^(?P<token>[A-Za-z0-9_-]{20,128})\.ics$",
        ical_views.calendar_feed,
        name="feed",
    ),
]
