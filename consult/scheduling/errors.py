"""Scheduling errors with stable codes."""

from __future__ import annotations

from consult.exceptions import ConsultError


class SlotUnavailable(ConsultError):
    """Someone else holds that time (or took it a moment ago)."""

    status_code = 409

    def __init__(self, message: str = "That slot is no longer available.") -> None:
        super().__init__(message, code="slot_unavailable")


class InvalidBooking(ConsultError):
    """A booking request that can never succeed as asked (400)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
