"""``manage.py send_reminders [--loop SECONDS]``: remind upcoming appointments."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from consult.scheduling.reminders import appointment_reminders_send

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Send reminders for appointments starting within "
        "APPOINTMENT_REMINDER_LEAD; with --loop, keep doing so every SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=int,
            metavar="SECONDS",
            help="Run forever, every SECONDS (at least 10).",
        )
        parser.add_argument(
            "--iterations",
            type=int,
            default=0,
            help="With --loop, stop after this many rounds (0: never).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["loop"]
        if interval is None:
            sent = appointment_reminders_send()
            self.stdout.write(f"reminded {sent} appointment(s)")
            return
        interval = max(interval, 10)
        rounds = 0
        while True:
            close_old_connections()
            try:
                sent = appointment_reminders_send()
                self.stdout.write(f"reminded {sent} appointment(s)")
            except Exception:  # noqa: BLE001 (the loop outlives one bad round)
                logger.exception("reminder round failed")
            rounds += 1
            if options["iterations"] and rounds >= options["iterations"]:
                return
            time.sleep(interval)
