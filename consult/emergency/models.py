"""Ambulance cases, their vitals streams, location, pre-admission and teams.

Clinical free text (complaint, mechanism, injuries, treatment) is encrypted
at rest and bound to its row and column (see ``casetext.py``). Vitals
batches are idempotent on ``(device_id, stream_id, seq)``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from consult.accounts.models import Crew, Department, Organisation
from consult.records.models import Patient


class Category(models.TextChoices):
    """Pre-arrival alert types (NEMSIS eDisposition.24 as ePCRs implement it)."""

    STEMI = "stemi", "STEMI"
    STROKE = "stroke", "Stroke"
    TRAUMA = "trauma", "Major trauma"
    CARDIAC_ARREST = "cardiac_arrest", "Cardiac arrest"
    SEPSIS = "sepsis", "Sepsis"
    OBSTETRIC = "obstetric", "Obstetric"
    PAEDIATRIC = "paediatric", "Paediatric"
    OTHER = "other", "Other"


class ReceivingHospital(models.Model):
    """A hospital that receives ambulances: where it is, for the ETA."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="receiving"
    )
    lat = models.FloatField()
    lon = models.FloatField()
    accepting = models.BooleanField(default=True)

    def __str__(self) -> str:
        return str(self.organisation)

    def clean(self) -> None:
        """Hospitals only, on the globe."""
        if self.organisation_id and (
            self.organisation.kind != Organisation.Kind.HOSPITAL
        ):
            raise ValidationError({"organisation": "Must be a hospital."})
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValidationError("Latitude or longitude out of range.")


class EmergencyCase(models.Model):
    """One patient carried by one crew to one destination hospital."""

    class Status(models.TextChoices):
        OPENED = "opened", "Opened"
        EN_ROUTE = "en_route", "En route"
        ACCEPTED = "accepted", "Accepted"
        ARRIVED = "arrived", "Arrived"
        HANDED_OVER = "handed_over", "Handed over"
        DIVERTED = "diverted", "Diverted"
        CLOSED = "closed", "Closed"

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        UNKNOWN = "unknown", "Unknown"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="emergency_cases"
    )
    crew = models.ForeignKey(Crew, on_delete=models.PROTECT, related_name="cases")
    destination = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="inbound_cases"
    )
    patient = models.OneToOneField(
        Patient, on_delete=models.PROTECT, related_name="emergency_case"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPENED
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    estimated_age = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    # Encrypted JSON of the free text; see casetext.CaseText.
    text_ciphertext = models.TextField(blank=True)
    text_key_id = models.CharField(max_length=32, blank=True)
    consent_to_broadcast = models.BooleanField(default=False)
    # The case's live video from the crew's phone (see ``video.py``); null only
    # for cases opened before video existed.
    room = models.OneToOneField(
        "rooms.Room",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="emergency_case",
    )
    # Latest valid value of each NEWS2 parameter with its time, and the score.
    latest_vitals = models.JSONField(default=dict, blank=True)
    news2_total = models.PositiveSmallIntegerField(null=True, blank=True)
    news2_band = models.CharField(max_length=16, default="unknown")
    news2_trend = models.CharField(max_length=8, default="unknown")
    eta_at = models.DateTimeField(null=True, blank=True)
    distance_m = models.FloatField(null=True, blank=True)
    last_lat = models.FloatField(null=True, blank=True)
    last_lon = models.FloatField(null=True, blank=True)
    call_received_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(default=timezone.now)
    first_vitals_at = models.DateTimeField(null=True, blank=True)
    departed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    arrived_at = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    diverted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["destination", "status"]),
            models.Index(fields=["crew", "status"]),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.category})"

    def clean(self) -> None:
        """Crew and service agree; the destination is a hospital."""
        if (
            self.crew_id
            and self.service_id
            and self.crew.organisation_id != (self.service_id)
        ):
            raise ValidationError({"crew": "Not a crew of this ambulance service."})
        if self.destination_id and (
            self.destination.kind != Organisation.Kind.HOSPITAL
        ):
            raise ValidationError({"destination": "Must be a hospital."})
        if self.estimated_age is not None and self.estimated_age > 120:
            raise ValidationError({"estimated_age": "At most 120."})


ACTIVE_STATUSES = (
    EmergencyCase.Status.OPENED,
    EmergencyCase.Status.EN_ROUTE,
    EmergencyCase.Status.ACCEPTED,
    EmergencyCase.Status.ARRIVED,
)


class StreamKind(models.TextChoices):
    NUMERICS = "numerics", "Numerics"
    ECG = "ecg", "ECG waveform"
    PLETH = "pleth", "SpO2 plethysmogram"


class VitalsStream(models.Model):
    """One device's stream of one kind for one case, and how far it is complete.

    ``acked_through`` is the highest seq such that every seq from 0 up to it
    is stored (-1 before seq 0 arrives); ``max_seq`` the highest stored.
    """

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="streams"
    )
    device_id = models.CharField(max_length=64)
    stream_id = models.UUIDField()
    kind = models.CharField(max_length=16, choices=StreamKind.choices)
    acked_through = models.BigIntegerField(default=-1)
    max_seq = models.BigIntegerField(default=-1)
    batches = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_batch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "stream_id"], name="vitals_stream_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} stream {self.stream_id}"


class VitalsBatch(models.Model):
    """One batch of samples (about 250 ms of waveform, or a numerics set).

    ``sample_t0`` is the wall-clock time of the first sample; ``payload`` is
    ``{"values": {...}}`` for numerics and ``{"samples": [...]}`` for
    waveforms. ``flags`` lists implausible values (``"hr:implausible"``),
    which are kept as sent but never scored.
    """

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="vitals"
    )
    vitals_stream = models.ForeignKey(
        VitalsStream, on_delete=models.CASCADE, related_name="rows"
    )
    device_id = models.CharField(max_length=64)
    stream_id = models.UUIDField()
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=StreamKind.choices)
    sample_t0 = models.DateTimeField()
    rate_hz = models.FloatField(default=0)
    n_samples = models.PositiveIntegerField(default=1)
    payload = models.JSONField()
    sha256 = models.CharField(max_length=64)
    flags = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "stream_id", "seq"], name="vitals_batch_unique"
            )
        ]
        indexes = [models.Index(fields=["vitals_stream", "seq"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"


class News2Score(models.Model):
    """A NEWS2 score of the case at a moment: the score history behind the trend."""

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="news2_scores"
    )
    at = models.DateTimeField()
    total = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=16)
    scores = models.JSONField(default=dict)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["case", "at"])]

    def __str__(self) -> str:
        return f"NEWS2 {self.total} at {self.at:%H:%M:%S}"


class LocationFix(models.Model):
    """A position of the ambulance from the phone's geolocation."""

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="fixes"
    )
    lat = models.FloatField()
    lon = models.FloatField()
    accuracy_m = models.FloatField(null=True, blank=True)
    speed_mps = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    at = models.DateTimeField()
    eta_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["case", "at"])]

    def __str__(self) -> str:
        return f"Fix at {self.at:%H:%M:%S}"


class Attachment(models.Model):
    """A scene photo or ECG printout. Bytes are encrypted in private storage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=16, default="photo")
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=32)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return f"Attachment {self.pk}"


class Encounter(models.Model):
    """Pre-admission: the hospital's encounter for the case (FHIR Encounter)."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        ARRIVED = "arrived", "Arrived"
        IN_PROGRESS = "in-progress", "In progress"
        CANCELLED = "cancelled", "Cancelled"

    case = models.OneToOneField(
        EmergencyCase, on_delete=models.CASCADE, related_name="encounter"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="emergency_encounters"
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="emergency_encounters"
    )
    bay = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PLANNED
    )
    planned_at = models.DateTimeField(default=timezone.now)
    arrived_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Encounter {self.pk} ({self.status})"


class Team(models.Model):
    """A hospital team that an inbound case can activate (cath lab, stroke, ...).

    ``activates_for`` lists the case categories that activate it by default;
    members are edited in the admin.
    """

    class Code(models.TextChoices):
        CATH_LAB = "cath_lab", "Cath lab team"
        STROKE = "stroke", "Stroke team"
        TRAUMA = "trauma", "Trauma team"
        RESUS = "resus", "Resuscitation team"
        SEPSIS = "sepsis", "Sepsis team"
        OBSTETRIC = "obstetric", "Obstetric team"
        PAEDIATRIC = "paediatric", "Paediatric team"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="emergency_teams"
    )
    code = models.CharField(max_length=32, choices=Code.choices)
    name = models.CharField(max_length=100)
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    activates_for = models.JSONField(default=list, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="emergency_teams", blank=True
    )

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"], name="team_unique_code"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Hospital teams; categories from the known list."""
        if self.organisation_id and (
            self.organisation.kind != Organisation.Kind.HOSPITAL
        ):
            raise ValidationError({"organisation": "Must be a hospital."})
        if not isinstance(self.activates_for, list) or not set(
            self.activates_for
        ) <= set(Category.values):
            raise ValidationError({"activates_for": "A list of case categories."})


class TeamActivation(models.Model):
    """A team called for a case before arrival (NEMSIS eDisposition.24/.25)."""

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="activations"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["activated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "team"], name="team_activation_once_per_case"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team} for {self.case_id}"


class TeamAcknowledgement(models.Model):
    """One member's acknowledgement of an activation (null until they answer)."""

    activation = models.ForeignKey(
        TeamActivation, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    notified_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["notified_at", "user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["activation", "user"], name="team_ack_once_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"Ack {self.user_id} for activation {self.activation_id}"


class CaseEvent(models.Model):
    """One event of the case timeline. ``detail`` holds ids and codes, no PHI."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Case opened"
        FIRST_VITALS = "first_vitals", "First vitals"
        DEPARTED = "departed", "En route"
        ACCEPTED = "accepted", "Accepted and pre-admitted"
        TEAM_ACTIVATED = "team_activated", "Team activated"
        TEAM_ACKNOWLEDGED = "team_acknowledged", "Team member acknowledged"
        ATTACHMENT = "attachment", "Attachment added"
        ARRIVED = "arrived", "Arrived"
        HANDED_OVER = "handed_over", "Handed over"
        DIVERTED = "diverted", "Diverted"
        CLOSED = "closed", "Closed"

    case = models.ForeignKey(
        EmergencyCase, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%H:%M:%S}"
