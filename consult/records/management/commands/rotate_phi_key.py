"""``manage.py rotate_phi_key``: re-encrypt every record under the primary PHI key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from consult.records import crypto
from consult.records import phi as phi_codec
from consult.records.audit import audit_event_record
from consult.records.context import COMMAND
from consult.records.models import AuditEvent, Patient


class Command(BaseCommand):
    help = (
        "Re-encrypt patient PHI still under an older key with the primary key "
        "(the first in PHI_KEYS). Safe to interrupt and re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        ring = crypto.keyring()
        total = 0
        while True:
            with transaction.atomic():
                batch = list(
                    Patient.objects.select_for_update(skip_locked=True)
                    .exclude(phi_key_id=ring.primary)
                    .order_by("pk")[:batch_size]
                )
                if not batch:
                    break
                for patient in batch:
                    phi_codec.seal(
                        patient, phi_codec.unseal(patient, ring=ring), ring=ring
                    )
                Patient.objects.bulk_update(batch, ["phi_ciphertext", "phi_key_id"])
                total += len(batch)
            self.stdout.write(f"re-encrypted {total} record(s)")
        remaining = Patient.objects.exclude(phi_key_id=ring.primary).count()
        with transaction.atomic():
            audit_event_record(
                actor=None,
                action=AuditEvent.Action.KEY_ROTATION,
                ctx=COMMAND,
                object_type="patient",
                extra={
                    "key_id": ring.primary,
                    "reencrypted": total,
                    "remaining": remaining,
                },
            )
        self.stdout.write(
            f"done: {total} record(s) re-encrypted under key {ring.primary!r}; "
            f"{remaining} left under other keys"
        )
