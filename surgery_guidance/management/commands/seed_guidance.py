"""``manage.py seed_guidance``: a mentored operation, consented and broadcast.

Idempotent; builds on ``seed_demo``'s users (dr.surgeon operates, dr.mentor
mentors, trainee.surg watches). The operation goes live when the surgeon opens
it and their camera starts.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from consult.accounts.models import User
from consult.records.context import AccessContext
from surgery_guidance import services
from surgery_guidance.models import Operation

TITLE = "Laparoscopic cholecystectomy (demo)"


class Command(BaseCommand):
    help = "Create the demo mentored operation (run after seed_demo)."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        surgeon = User.objects.get(username="dr.surgeon")
        mentor = User.objects.get(username="dr.mentor")
        ctx = AccessContext(channel="command")
        # Ended demos stay (their recordings are in the library); reuse the
        # one that has not ended, whichever was scheduled first.
        operation = (
            Operation.objects.filter(
                title=TITLE, organisation_id=surgeon.organisation_id
            )
            .exclude(status=Operation.Status.ENDED)
            .first()
        )
        if operation is None:
            operation = services.operation_schedule(
                actor=surgeon,
                title=TITLE,
                procedure="Laparoscopic cholecystectomy",
                theatre="Theatre 3",
                scheduled_start=timezone.now() + timedelta(minutes=5),
                surgeon_id=surgeon.pk,
                mentor_ids=[mentor.pk],
                ctx=ctx,
            )
        services.consent_record(
            actor=surgeon, operation_id=operation.pk, broadcast=True, ctx=ctx
        )
        self.stdout.write(
            f"Mentored operation: {operation.get_absolute_url()} "
            "(dr.surgeon operates, dr.mentor draws, trainee.surg watches)\n"
        )
