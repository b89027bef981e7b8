"""Consultation rooms: one per booked video consultation, or ad hoc for an MDT."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from consult.accounts.models import Organisation


class Room(models.Model):
    """A video room. Booked consultations get one at booking time."""

    class Kind(models.TextChoices):
        CONSULTATION = "consultation", "Consultation"
        MDT = "mdt", "Multidisciplinary meeting"
        AD_HOC = "ad_hoc", "Ad-hoc room"
        # An ambulance case's live video (consult.emergency decides who enters).
        EMERGENCY = "emergency", "Emergency case video"
        # A mentored operation's room (surgery_guidance adds drawing and broadcast).
        OPERATION = "operation", "Mentored operation"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        LOCKED = "locked", "Locked"
        ENDED = "ended", "Ended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="rooms"
    )
    appointment = models.OneToOneField(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="room",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=120)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("rooms:room", kwargs={"room_id": self.pk})


class RoomMember(models.Model):
    """Someone invited into a room. The patient is admitted, never invited."""

    class Role(models.TextChoices):
        HOST = "host", "Host"
        PARTICIPANT = "participant", "Participant"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="room_memberships",
    )
    role = models.CharField(
        max_length=16, choices=Role.choices, default=Role.PARTICIPANT
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    invited_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room_id}"


class ChatMessage(models.Model):
    """A chat line, numbered per room without gaps; its text is encrypted (clinical)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="chat")
    seq = models.PositiveIntegerField()
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sender_key = models.CharField(max_length=64, help_text="The participant id.")
    sender_label = models.CharField(max_length=150)
    client_id = models.UUIDField(
        help_text="The sender's id for the message: resends are no-ops."
    )
    body_ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "sender_key", "client_id"], name="chat_client_id_once"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.room_id}"


class QualityReport(models.Model):
    """One participant's connection quality over one session in a room."""

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="quality_reports"
    )
    participant = models.CharField(max_length=64)
    label = models.CharField(max_length=150)
    session = models.UUIDField()
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "session"], name="quality_session_once"
            )
        ]

    def __str__(self) -> str:
        return f"Quality of {self.label} in {self.room_id}"
