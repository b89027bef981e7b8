"""Channel-layer groups and events of scheduling (ids and statuses only, never PHI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consult.events import group_name, publish_on_commit


def diary_group(practitioner_id: int) -> str:
    """Everyone watching one practitioner's diary and waiting room."""
    return group_name("diary", practitioner_id)


def appointment_changed_on_commit(
    appointment: Any, *, practitioner_ids: Sequence[int]
) -> None:
    """Tell the participants' open pages that an appointment changed."""
    for pid in practitioner_ids:
        publish_on_commit(
            diary_group(pid),
            {
                "type": "diary.appointment_changed",
                "appointment": str(appointment.pk),
                "status": appointment.status,
            },
        )


def waiting_changed_on_commit(
    appointment: Any, *, practitioner_ids: Sequence[int], state: str
) -> None:
    """A patient arrived in, left, or was admitted from the waiting room."""
    for pid in practitioner_ids:
        publish_on_commit(
            diary_group(pid),
            {
                "type": "diary.waiting_changed",
                "appointment": str(appointment.pk),
                "state": state,
            },
        )
