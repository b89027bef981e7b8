from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: health, Prometheus metrics, system checks and demo seeding."""

    name = "consult.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from consult.ops import checks  # noqa: F401  (registers system checks)
