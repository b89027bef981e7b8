from django.apps import AppConfig


class MediaConfig(AppConfig):
    """Media workers: transports, placement, heartbeats, ICE and signaling."""

    name = "consult.media"
    label = "media"
    verbose_name = "Media workers"

    def ready(self) -> None:
        from consult.media import checks  # noqa: F401  (registers system checks)
