"""Patients, care relationships, and the append-only audit trail."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consult.accounts.models import Department, Organisation


class Patient(models.Model):
    """A patient. Every identifier and free text lives in ``phi_ciphertext``.

    The primary key is a random UUID, assigned before the first save, so the
    ciphertext can be bound to its row and ids reveal nothing about volume.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="patients"
    )
    phi_ciphertext = models.TextField()
    phi_key_id = models.CharField(max_length=32, db_index=True)
    mrn_index = models.CharField(max_length=64, help_text="Keyed HMAC of the MRN.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "mrn_index"],
                condition=Q(deleted_at__isnull=True),
                name="patient_unique_mrn_per_organisation",
            )
        ]

    def __str__(self) -> str:
        # Never the name: str() ends up in logs and admin breadcrumbs.
        return f"Patient {self.pk}"


class CareRelationship(models.Model):
    """Why someone may see a patient: a department, a booking, a room, a case.

    Exactly one of ``user`` and ``department`` is set. Later apps (scheduling,
    rooms, emergency) create these when they link a clinician to a patient.
    """

    class Kind(models.TextChoices):
        DEPARTMENT = "department", "Department patient"
        REGISTRATION = "registration", "Registered by"
        CONSULTATION = "consultation", "Booked consultation"
        ROOM = "room", "Consultation room"
        EMERGENCY_CASE = "emergency_case", "Emergency case"
        BREAK_GLASS = "break_glass", "Break-glass emergency access"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="care_relationships"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="care_relationships",
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="care_relationships",
    )
    source = models.CharField(
        max_length=64, blank=True, help_text="What created it, e.g. 'appointment:12'."
    )
    reason = models.CharField(max_length=32, blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "patient"]),
            models.Index(fields=["department", "patient"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, department__isnull=True)
                    | Q(user__isnull=True, department__isnull=False)
                ),
                name="care_relationship_user_xor_department",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for patient {self.patient_id}"

    def clean(self) -> None:
        """An end, when given, comes after the start."""
        if self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Must be after starts_at."})


class AuditEvent(models.Model):
    """One append-only, hash-chained record of an access or change.

    ``hash`` is HMAC-SHA256 (keyed by ``AUDIT_CHAIN_KEY``) over the canonical
    JSON of the row including ``prev_hash``; ``seq`` numbers the chain without
    gaps. No PHI values are stored here, only ids. On PostgreSQL a trigger
    refuses UPDATE and DELETE.
    """

    class Action(models.TextChoices):
        READ = "read"
        LIST = "list"
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        EXPORT = "export"
        SUBSCRIBE = "subscribe"
        BREAK_GLASS = "break_glass"
        LOGIN = "login"
        LOGIN_FAILED = "login_failed"
        LOGOUT = "logout"
        BLOCK = "block"
        UNBLOCK = "unblock"
        KEY_ROTATION = "key_rotation"

    class Outcome(models.TextChoices):
        ALLOWED = "allowed"
        DENIED = "denied"

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    # Plain columns, not foreign keys: the trail must outlive and never cascade
    # from the rows it describes.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    explained = models.BooleanField(null=True)
    explanation = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=16)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["actor_id", "at"]),
            models.Index(fields=["patient_id", "at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AccessAlert(models.Model):
    """An unusual-access alert raised by the monitor, for an administrator."""

    class Rule(models.TextChoices):
        VOLUME = "volume", "Too many distinct patients in the window"
        UNEXPLAINED = "unexplained", "Too many patients without a care relationship"
        PROBING = "probing", "Too many denied attempts"
        LISTING = "listing", "Paged through too many patients"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_alerts"
    )
    rule = models.CharField(max_length=32, choices=Rule.choices)
    detail = models.CharField(max_length=200)
    raised_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    blocking = models.BooleanField(
        default=True, help_text="While uncleared, the user cannot read patients."
    )

    class Meta:
        ordering = ["-raised_at"]
        indexes = [models.Index(fields=["user", "cleared_at"])]

    def __str__(self) -> str:
        return f"{self.get_rule_display()} ({self.user})"
