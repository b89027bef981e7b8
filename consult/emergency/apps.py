from django.apps import AppConfig


class EmergencyConfig(AppConfig):
    name = "consult.emergency"
    label = "emergency"
    verbose_name = "Emergency cases"

    def ready(self) -> None:
        """Tell the rooms app who may enter a case's video room."""
        from consult.emergency import video

        video.register()
