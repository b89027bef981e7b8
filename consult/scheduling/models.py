"""Availability, consultation types, appointments and their participants.

All instants are stored in UTC. Weekly availability is kept as wall-clock
times in the practitioner's IANA zone, so it follows daylight-saving changes;
each appointment stores the zone it was booked in, for display.
"""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consult.accounts.models import Department, Organisation
from consult.records.models import Patient


def validate_time_zone(name: str) -> None:
    """Accept only IANA zone names that this system knows."""
    if name not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {name!r}.", code="unknown_time_zone")


class ConsultationType(models.Model):
    """What is booked: its duration, its modality and whether it is an MDT."""

    class Modality(models.TextChoices):
        VIDEO = "video", "Video"
        IN_PERSON = "in_person", "In person"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="consultation_types"
    )
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=120)
    duration_minutes = models.PositiveSmallIntegerField()
    modality = models.CharField(max_length=16, choices=Modality.choices)
    is_mdt = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"], name="consultation_type_unique_code"
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5, duration_minutes__lte=480),
                name="consultation_type_duration_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"


class AvailabilityRule(models.Model):
    """A weekly recurring window, in wall-clock time of ``time_zone``."""

    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability"
    )
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday ... 6 = Sunday")
    start_time = models.TimeField()
    end_time = models.TimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    valid_from = models.DateField(default=timezone.localdate)
    valid_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["practitioner_id", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__lte=6), name="availability_weekday"
            ),
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")),
                name="availability_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.practitioner} weekday {self.weekday}"
            f" {self.start_time}-{self.end_time}"
        )

    def clean(self) -> None:
        """A window ends after it starts, and its validity is ordered."""
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError(
                {"end_time": "Must be after start_time."}, code="invalid_time_range"
            )
        if self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError(
                {"valid_until": "Before valid_from."}, code="invalid_time_range"
            )


class AvailabilityException(models.Model):
    """A one-off change: leave or a holiday removes time; an extra session adds it."""

    class Kind(models.TextChoices):
        LEAVE = "leave", "Leave"
        HOLIDAY = "holiday", "Public holiday"
        EXTRA = "extra", "Extra session"

    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="availability_exceptions",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="availability_exception_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d}"

    @property
    def adds_time(self) -> bool:
        """Extra sessions add availability; leave and holidays remove it."""
        return self.kind == self.Kind.EXTRA


class Appointment(models.Model):
    """A booked consultation; statuses follow FHIR R4 Appointment.status."""

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        PENDING = "pending"
        BOOKED = "booked"
        ARRIVED = "arrived"
        FULFILLED = "fulfilled"
        CANCELLED = "cancelled"
        NOSHOW = "noshow"
        CHECKED_IN = "checked-in"

    # Statuses that hold the participants' time.
    ACTIVE = (
        Status.PROPOSED,
        Status.PENDING,
        Status.BOOKED,
        Status.ARRIVED,
        Status.CHECKED_IN,
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="appointments"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="appointments"
    )
    consultation_type = models.ForeignKey(
        ConsultationType, on_delete=models.PROTECT, related_name="appointments"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.BOOKED
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    # Why the appointment was booked: clinical free text, so encrypted.
    reason_ciphertext = models.TextField(blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(default=timezone.now)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=32, blank=True)
    rescheduled_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["organisation", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="appointment_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"Appointment {self.pk} {self.starts_at:%Y-%m-%d %H:%M}Z"

    @property
    def is_active(self) -> bool:
        """Whether the appointment still holds its participants' time."""
        return self.status in self.ACTIVE


class AppointmentParticipant(models.Model):
    """A practitioner in an appointment; their time range is denormalised here.

    On PostgreSQL an exclusion constraint forbids two active rows of one
    practitioner with overlapping ranges, which makes double-booking
    impossible whatever the race.
    """

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="participants"
    )
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="appointment_seats",
    )
    seat_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["practitioner", "starts_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "practitioner"],
                name="participant_once_per_appointment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.practitioner} in {self.appointment_id}"


class CalendarFeed(models.Model):
    """A clinician's private iCalendar feed; the URL token is stored only as a hash."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"


class PatientAccessLink(models.Model):
    """A one-time, expiring link letting a patient into one appointment's waiting room.

    The token is stored as a hash. The first browser to open it binds it to
    its session; any other browser is refused afterwards.
    """

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="access_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    session_hash = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Patient link for {self.appointment_id}"


class WaitingEntry(models.Model):
    """A patient in an appointment's waiting room: since when, checks, admission."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="waiting"
    )
    arrived_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    admitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    device_checks = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["arrived_at"]

    def __str__(self) -> str:
        return f"Waiting for {self.appointment_id}"
