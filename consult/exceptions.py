"""Domain errors with stable codes that clients switch on."""

from __future__ import annotations

from typing import Any


class ConsultError(Exception):
    """A refused action. ``code`` is stable; ``message`` is for humans."""

    status_code = 400

    def __init__(
        self, message: str, *, code: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}


class NotFound(ConsultError):
    """The object does not exist or lies outside the acting user's reach."""

    status_code = 404

    def __init__(self, message: str = "Not found.", *, code: str = "not_found") -> None:
        super().__init__(message, code=code)


class PermissionDenied(ConsultError):
    """The acting user's role does not allow this action."""

    status_code = 403

    def __init__(
        self, message: str = "Not permitted.", *, code: str = "permission_denied"
    ) -> None:
        super().__init__(message, code=code)


class AccessBlocked(ConsultError):
    """Patient access is blocked for this user pending an administrator's review."""

    status_code = 403

    def __init__(self, message: str = "Patient access is blocked for review.") -> None:
        super().__init__(message, code="access_blocked")
