from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """Availability, appointments, MDT slot search, waiting room, iCal and FHIR."""

    name = "consult.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
