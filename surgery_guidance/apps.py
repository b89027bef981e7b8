from django.apps import AppConfig


class SurgeryGuidanceConfig(AppConfig):
    """Telementoring of operations, live broadcasts to trainees, recordings."""

    name = "surgery_guidance"
    label = "surgery_guidance"
    verbose_name = "Surgical guidance"
