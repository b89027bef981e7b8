"""The media worker's replies to one participant, forwarded to their browser.

Mixed into every consumer that talks to a media worker for a participant
(the room socket, the guidance socket): the worker sends ``media.answer``,
``media.offer``, ``media.ice`` and ``media.error`` to the consumer's channel
(``reply_to``), and the browser gets the same fields back.
"""

from __future__ import annotations

from typing import Any


class MediaReplies:
    """Channel-layer handlers for the worker's per-participant replies.

    Put it after ``ValidatedJsonConsumer`` in the bases: it uses the consumer's
    ``send_json`` and ``send_error``.
    """

    send_json: Any
    send_error: Any

    async def media_answer(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "media.answer", "pc": event["pc"], "sdp": event["sdp"]}
        )

    async def media_offer(self, event: dict[str, Any]) -> None:
        # ``tracks`` maps each m-line's mid to the track it carries.
        await self.send_json(
            {
                "type": "media.offer",
                "pc": event["pc"],
                "sdp": event["sdp"],
                "tracks": event.get("tracks", {}),
            }
        )

    async def media_ice(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "media.ice",
                "pc": event["pc"],
                "candidate": event.get("candidate"),
            }
        )

    async def media_error(self, event: dict[str, Any]) -> None:
        await self.send_error(
            event.get("code", "media_error"),
            event.get("detail", ""),
            **{"for": event.get("for")},
        )
