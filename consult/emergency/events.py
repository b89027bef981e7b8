"""Channel-layer groups and events of emergency cases (JSON-safe, no free text).

Groups:

- ``emergency.board.<hospital id>``: every board of the destination hospital
  (case summaries; and one ``emergency.feed`` per committed ingest flush
  with its numerics, NEWS2 and waveforms: each board forwards the waveforms
  of the cases it opened, so a flush costs one message whatever the number
  of ambulances, where a group per case cost one per batch);
- ``emergency.case.<case id>``: the crew's sockets for the case (the
  hospital's answer, the server's NEWS2 when it changes);
- ``emergency.user.<user id>``: one user's sockets (team activation alerts).
"""

from __future__ import annotations

from typing import Any

from consult.events import group_name, publish_on_commit


def board_group(hospital_id: int) -> str:
    """Every command board of one hospital."""
    return group_name("emergency", "board", hospital_id)


def case_group(case_id: object) -> str:
    """The crew's sockets of one case."""
    return group_name("emergency", "case", case_id)


def user_group(user_id: int) -> str:
    """One user's emergency sockets (board, crew)."""
    return group_name("emergency", "user", user_id)


def case_changed_on_commit(summary: dict[str, Any]) -> None:
    """Boards of the destination and the crew get the new summary."""
    event = {"type": "emergency.case", "case": summary}
    publish_on_commit(board_group(summary["destination"]["id"]), event)
    publish_on_commit(case_group(summary["id"]), event)


def feed_on_commit(hospital_id: int, feed: list[dict[str, Any]]) -> None:
    """A committed flush's vitals (``vitals``) and waveforms (``waveform``)."""
    publish_on_commit(
        board_group(hospital_id), {"type": "emergency.feed", "events": feed}
    )


def case_vitals_on_commit(case_id: str, message: dict[str, Any]) -> None:
    """The crew hears the server's NEWS2 of their case when it changes."""
    publish_on_commit(case_group(case_id), {**message, "type": "emergency.vitals"})


def location_on_commit(hospital_id: int, case_id: str, message: dict[str, Any]) -> None:
    """A new position and ETA."""
    event = {"type": "emergency.location", **message}
    publish_on_commit(board_group(hospital_id), event)
    publish_on_commit(case_group(case_id), event)


def team_alert_on_commit(user_ids: list[int], message: dict[str, Any]) -> None:
    """Each member of an activated team is alerted on their own sockets."""
    for user_id in user_ids:
        publish_on_commit(
            user_group(user_id), {"type": "emergency.team_alert", **message}
        )
