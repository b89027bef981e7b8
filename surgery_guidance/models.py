"""Operations mentored live, their annotation log, trainees' questions, recordings.

An ``Operation`` is one mentored procedure: the operating surgeon publishes the
theatre camera into the operation's video room (``consult.rooms``), mentors
draw on it, and, with the patient's recorded consent, trainees watch the
composited feed. Nothing here stores patient identifiers: the optional link to
the patient record exists for access and consent only, and pages for trainees
never follow it.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from consult.accounts.models import Organisation

MAX_QUESTION_CHARS = 500


def new_broadcast_token() -> str:
    """An unguessable path segment for a broadcast's HLS files (CDN-cacheable)."""
    return secrets.token_urlsafe(24)


class Operation(models.Model):
    """One mentored operation: room, people, consent, broadcast and status."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    class Vitals(models.TextChoices):
        """What drives the vitals panel burned into the broadcast."""

        NONE = "", "No vitals panel"
        STABLE = "stable", "Simulated: stable patient"
        SEPSIS = "sepsis", "Simulated: sepsis"
        TRAUMA = "trauma", "Simulated: haemorrhage"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="operations"
    )
    title = models.CharField(
        max_length=120, help_text="Shown to trainees: never a patient identifier."
    )
    procedure = models.CharField(
        max_length=120, help_text="Groups recordings in the training library."
    )
    theatre = models.CharField(max_length=60, blank=True)
    surgeon = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    mentors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="mentored_operations", blank=True
    )
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Approves trainees' questions; the surgeon when empty.",
    )
    patient = models.ForeignKey(
        "records.Patient",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    room = models.OneToOneField(
        "rooms.Room", on_delete=models.PROTECT, related_name="operation"
    )
    scheduled_start = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SCHEDULED
    )
    vitals = models.CharField(
        max_length=16, choices=Vitals.choices, default=Vitals.STABLE, blank=True
    )
    broadcast = models.BooleanField(
        default=False, help_text="Trainees may watch (needs recorded consent)."
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    broadcast_token = models.CharField(
        max_length=64, unique=True, default=new_broadcast_token, editable=False
    )
    composite_track = models.CharField(max_length=200, blank=True)
    hls_path = models.CharField(max_length=300, blank=True)
    #: The theatre camera's clock minus the server's, so viewers can turn the
    #: capture stamps burned into the video into glass-to-glass latency.
    source_clock_offset_ms = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    annotation_seq = models.PositiveIntegerField(default=0)
    #: The folded annotation state after ``annotation_seq`` (telestration JSON).
    annotation_state = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scheduled_start"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("guidance:operation", kwargs={"operation_id": self.pk})

    def clean(self) -> None:
        if self.broadcast and self.consent_recorded_at is None:
            raise ValidationError(
                {"broadcast": "A broadcast needs the patient's recorded consent."}
            )

    @property
    def consent_recorded(self) -> bool:
        return self.consent_recorded_at is not None

    @property
    def composite_name(self) -> str:
        """The media worker's name for this operation's composite feed."""
        return f"op-{self.pk.hex}"


class AnnotationEvent(models.Model):
    """One annotation operation, numbered per operation (``seq``) and per author.

    ``op`` is the telestration operation exactly as applied
    (``surgery_guidance.telestration.Op.to_dict``); replaying the rows in
    ``seq`` order rebuilds the annotation state.
    """

    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="annotation_events"
    )
    seq = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_seq = models.PositiveIntegerField()
    op = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["operation", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "seq"], name="annotation_seq_once"
            ),
            models.UniqueConstraint(
                fields=["operation", "author", "author_seq"],
                name="annotation_author_seq_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation_id} #{self.seq}"


class Question(models.Model):
    """A trainee's question, shown to the mentors once a moderator approves it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the moderator"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Not taken"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="questions"
    )
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    client_id = models.UUIDField()
    body = models.CharField(max_length=MAX_QUESTION_CHARS)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["asked_by", "client_id"], name="question_client_id_once"
            )
        ]

    def __str__(self) -> str:
        return f"Question {self.pk} ({self.status})"


class Recording(models.Model):
    """The composited feed of an operation as MP4, with its JSON timeline beside it.

    Paths are relative to ``settings.MEDIA_OUTPUT_DIR`` (where media workers
    write); they come from the worker, never from a client.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    operation = models.ForeignKey(
        Operation, on_delete=models.PROTECT, related_name="recordings"
    )
    procedure = models.CharField(max_length=120)
    video_path = models.CharField(max_length=300)
    timeline_path = models.CharField(max_length=300)
    duration_s = models.FloatField(default=0.0)
    size_bytes = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "video_path"], name="recording_file_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.procedure} ({self.started_at:%Y-%m-%d})"

    def get_absolute_url(self) -> str:
        return reverse("guidance:replay", kwargs={"recording_id": self.pk})
