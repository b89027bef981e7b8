"""``manage.py audit_verify``: check the audit hash chain end to end."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from consult.records.audit import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit hash chain; name the first altered, inserted or "
        "deleted event."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if report.problem is not None:
            problem = report.problem
            raise CommandError(
                f"audit chain broken: {problem.kind} event id={problem.event_id} "
                f"seq={problem.seq} ({problem.detail}); "
                f"{report.checked} event(s) verified before it"
            )
        self.stdout.write(
            f"audit chain intact: {report.checked} event(s), head {report.head_hash}"
        )
