"""URL map: pages, the REST API under /api/, service endpoints, the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import views
from consult.accounts import api as accounts_api
from consult.emergency.urls import api_urlpatterns as emergency_api
from consult.ops import views as ops_views
from consult.records.urls import api_urlpatterns as records_api
from consult.rooms.urls import api_urlpatterns as rooms_api
from consult.scheduling.urls import api_urlpatterns as scheduling_api
from surgery_guidance.urls import api_urlpatterns as guidance_api

api_urlpatterns = [
    path("me/", accounts_api.MeView.as_view(), name="api-me"),
    path("tokens/", accounts_api.DeviceTokenListView.as_view(), name="api-tokens"),
    path(
        "tokens/<int:token_id>/",
        accounts_api.DeviceTokenDetailView.as_view(),
        name="api-token",
    ),
    *records_api,
    path("scheduling/", include((scheduling_api, "scheduling-api"))),
    path("rooms/", include((rooms_api, "rooms-api"))),
    path("emergency/", include((emergency_api, "emergency-api"))),
    path("guidance/", include((guidance_api, "guidance-api"))),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("consult.accounts.urls")),
    path("patients/", include("consult.records.urls")),
    path("schedule/", include("consult.scheduling.urls")),
    path("", include("consult.scheduling.waiting_urls")),
    path("rooms/", include("consult.rooms.urls")),
    path("emergency/", include("consult.emergency.urls")),
    path("guidance/", include("surgery_guidance.urls")),
    path("fhir/", include("consult.scheduling.fhir_urls")),
    path("calendar/", include("consult.scheduling.ical_urls")),
    path("api/", include(api_urlpatterns)),
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Telemedicine platform administration"
