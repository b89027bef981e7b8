from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """Patients (PHI encrypted at rest), care relationships, audit and monitoring."""

    name = "consult.records"
    label = "records"
    verbose_name = "Patient records and audit"

    def ready(self) -> None:
        from consult.records import signals  # noqa: F401  (auth events -> audit)
