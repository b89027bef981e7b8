"""Websockets of the waiting room: the patient's page and the clinician's diary."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from channels.db import database_sync_to_async

from consult.records.context import AccessContext
from consult.scheduling import events, schemas, waiting
from consult.scheduling.selectors import SCHEDULING_ROLES
from consult.ws import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    Message,
    ValidatedJsonConsumer,
)


def _pong(message: schemas.Ping) -> dict[str, Any]:
    # The server's clock in ms lets the page estimate its offset (NTP-style).
    return {"type": "pong", "t0": message.t0, "server_ms": time.time() * 1000}


class PatientWaitingConsumer(ValidatedJsonConsumer):
    """Patient's waiting page: authorised by the session bound to a one-time link."""

    requires_user = False
    rate_per_second = 5.0
    burst = 10
    schemas: ClassVar[dict[str, type[Message]]] = {
        "checks": schemas.DeviceChecks,
        "ping": schemas.Ping,
    }

    async def connect(self) -> None:
        """Accept only a session that opened a valid patient link."""
        session = self.scope.get("session")
        appointment_id = (
            session.get(waiting.SESSION_KEY) if session is not None else None
        )
        if not appointment_id:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.appointment_id = appointment_id
        self.group = waiting.waiting_group(appointment_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        try:
            await database_sync_to_async(waiting.waiting_arrive)(
                appointment_id=appointment_id, device_checks={}
            )
        except waiting.ConsultError as exc:
            await self.send_error(exc.code, exc.message)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        view = await database_sync_to_async(waiting.waiting_view)(appointment_id)
        if view.admitted and view.room_url:
            await self.send_json({"type": "admitted", "room": view.room_url})

    async def disconnect(self, code: int) -> None:
        """Leaving the page takes the patient out of the waiting list."""
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await database_sync_to_async(waiting.waiting_leave)(
                appointment_id=self.appointment_id
            )

    async def on_checks(self, message: schemas.DeviceChecks) -> None:
        await database_sync_to_async(waiting.waiting_update_checks)(
            appointment_id=self.appointment_id,
            device_checks=message.model_dump(exclude={"type"}),
        )
        await self.send_json({"type": "checks_saved"})

    async def on_ping(self, message: schemas.Ping) -> None:
        await self.send_json(_pong(message))

    async def waiting_admitted(self, event: dict[str, Any]) -> None:
        """A clinician admitted this patient: go to the room."""
        await self.send_json({"type": "admitted", "room": event["room"]})


class DiaryConsumer(ValidatedJsonConsumer):
    """A clinician's live diary: waiting-room arrivals and appointment changes."""

    schemas: ClassVar[dict[str, type[Message]]] = {
        "admit": schemas.Admit,
        "ping": schemas.Ping,
    }

    async def connect(self) -> None:
        """Clinicians with diaries only; each joins their own diary group."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if user.role not in SCHEDULING_ROLES:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = events.diary_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_admit(self, message: schemas.Admit) -> None:
        ctx = AccessContext(
            channel="websocket",
            ip=(self.scope.get("client") or [""])[0] or "",
        )
        room = await database_sync_to_async(waiting.waiting_admit)(
            actor=self.scope["user"], appointment_id=message.appointment, ctx=ctx
        )
        await self.send_json(
            {"type": "admitted", "appointment": message.appointment, "room": room}
        )

    async def on_ping(self, message: schemas.Ping) -> None:
        await self.send_json(_pong(message))

    async def diary_waiting_changed(self, event: dict[str, Any]) -> None:
        """Forward: someone arrived, left, updated checks or was admitted."""
        await self.send_json(
            {
                "type": "waiting_changed",
                "appointment": event["appointment"],
                "state": event["state"],
            }
        )

    async def diary_appointment_changed(self, event: dict[str, Any]) -> None:
        """Forward: an appointment of this diary changed."""
        await self.send_json(
            {
                "type": "appointment_changed",
                "appointment": event["appointment"],
                "status": event["status"],
            }
        )
