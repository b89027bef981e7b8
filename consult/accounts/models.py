"""Users, their roles, and the organisations they work for."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a user does; it decides which workflows and data they reach."""

    SPECIALIST = "specialist", "Specialist"
    SURGEON = "surgeon", "Surgeon"
    NURSE = "nurse", "Nurse / coordinator"
    PARAMEDIC = "paramedic", "Paramedic"
    OPERATOR = "operator", "Command-centre operator"
    TRAINEE = "trainee", "Trainee"
    ADMINISTRATOR = "administrator", "Administrator"


CLINICAL_ROLES = frozenset(
    {Role.SPECIALIST, Role.SURGEON, Role.NURSE, Role.PARAMEDIC, Role.OPERATOR}
)


class Organisation(models.Model):
    """A hospital or an ambulance service."""

    class Kind(models.TextChoices):
        HOSPITAL = "hospital", "Hospital"
        AMBULANCE_SERVICE = "ambulance_service", "Ambulance service"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    time_zone = models.CharField(max_length=64, default="Europe/London")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    """A hospital department (cardiology, radiology, surgery, emergency, ...)."""

    class Specialty(models.TextChoices):
        CARDIOLOGY = "cardiology", "Cardiology"
        RADIOLOGY = "radiology", "Radiology"
        SURGERY = "surgery", "Surgery"
        EMERGENCY = "emergency", "Emergency medicine"
        NEUROLOGY = "neurology", "Neurology"
        ONCOLOGY = "oncology", "Oncology"
        INTENSIVE_CARE = "intensive_care", "Intensive care"
        COMMAND_CENTRE = "command_centre", "Command centre"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="departments"
    )
    name = models.CharField(max_length=200)
    specialty = models.CharField(max_length=32, choices=Specialty.choices)

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="department_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation})"

    def clean(self) -> None:
        """Departments belong to hospitals only."""
        if self.organisation_id and (
            self.organisation.kind != Organisation.Kind.HOSPITAL
        ):
            raise ValidationError({"organisation": "Departments belong to hospitals."})


class Crew(models.Model):
    """An ambulance crew (a vehicle's call sign) of an ambulance service."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="crews"
    )
    call_sign = models.CharField(max_length=32)

    class Meta:
        ordering = ["organisation__name", "call_sign"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "call_sign"], name="crew_unique_call_sign"
            )
        ]

    def __str__(self) -> str:
        return self.call_sign

    def clean(self) -> None:
        """Crews belong to ambulance services only."""
        if self.organisation_id and (
            self.organisation.kind != Organisation.Kind.AMBULANCE_SERVICE
        ):
            raise ValidationError(
                {"organisation": "Crews belong to ambulance services."}
            )


class User(AbstractUser):
    """A staff member. Patients never hold accounts; they use one-time links."""

    role = models.CharField(max_length=32, choices=Role.choices)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
    )
    crew = models.ForeignKey(
        Crew, on_delete=models.SET_NULL, related_name="members", null=True, blank=True
    )
    time_zone = models.CharField(max_length=64, default="Europe/London")

    class Meta:
        ordering = ["username"]

    def clean(self) -> None:
        """Department and crew must belong to the user's organisation."""
        super().clean()
        if (
            self.department_id
            and self.department.organisation_id != self.organisation_id
        ):
            raise ValidationError({"department": "Not in the user's organisation."})
        if self.crew_id and self.crew.organisation_id != self.organisation_id:
            raise ValidationError({"crew": "Not in the user's organisation."})

    @property
    def is_clinical(self) -> bool:
        """Whether the role gives any clinical access at all."""
        return self.role in CLINICAL_ROLES


def hash_token(raw: str) -> str:
    """The stored form of a device token: SHA-256 hex (tokens are high-entropy)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class DeviceToken(models.Model):
    """An API token for a script or device (an ambulance tablet, a monitor).

    Only the SHA-256 of the token is stored; the raw token is shown once.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(
        max_length=8, help_text="First characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: datetime | None = None) -> bool:
        """Not revoked and not expired."""
        now = now or timezone.now()
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > now
        )


class Notification(models.Model):
    """An in-app message to a user. No PHI: it links to where the details are."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Appointment reminder"
        WAITING = "waiting", "Patient waiting"
        APPOINTMENT = "appointment", "Appointment change"
        TEAM_ACTIVATION = "team_activation", "Team activation"
        ALERT = "alert", "Alert"

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(
        max_length=120, blank=True, help_text="Same key for the same user: sent once."
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe",
            )
        ]

    def __str__(self) -> str:
        return self.title
