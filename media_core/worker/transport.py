"""How a media worker talks to the web tier: the ``Transport`` protocol.

The Django side implements it over the channel layer (scaled) or a thread-safe
bridge (embedded). ``QueueTransport`` is the in-memory one used by tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

Message = dict[str, Any]


@runtime_checkable
class Transport(Protocol):
    """The worker's only link to the web tier; all methods run on its loop.

    ``receive`` returns the next message addressed to the worker (a JSON-safe
    dict with ``type``). ``send`` delivers one message to a consumer's
    ``channel_name`` (the message's ``reply_to``); ``group_send`` delivers a
    channel-layer event (``{"type": "media.tracks", ...}``) to a group such as
    ``room.<room id>``. ``send``/``group_send`` may raise; the worker logs it and
    carries on.
    """

    async def receive(self) -> Message:
        """The next message for the worker (waits)."""
        ...

    async def send(self, channel: str, message: Message) -> None:
        """Deliver ``message`` to one channel."""
        ...

    async def group_send(self, group: str, message: Message) -> None:
        """Deliver ``message`` to every member of ``group``."""
        ...


class QueueTransport:
    """An in-memory ``Transport``: tests push with ``put`` and read with ``expect``."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.channels: defaultdict[str, asyncio.Queue[Message]] = defaultdict(
            asyncio.Queue
        )
        self.groups: defaultdict[str, asyncio.Queue[Message]] = defaultdict(
            asyncio.Queue
        )

    def put(self, message: Message) -> None:
        """Queue a message for the worker."""
        self.inbox.put_nowait(message)

    async def receive(self) -> Message:
        """The next queued message for the worker."""
        return await self.inbox.get()

    async def send(self, channel: str, message: Message) -> None:
        """Record ``message`` for ``channel``."""
        self.channels[channel].put_nowait(message)

    async def group_send(self, group: str, message: Message) -> None:
        """Record ``message`` for ``group``."""
        self.groups[group].put_nowait(message)

    async def expect(
        self, channel: str, type_: str | None = None, within: float = 5.0
    ) -> Message:
        """The next message on ``channel`` (of ``type_``, skipping others)."""
        return await self._expect(self.channels[channel], type_, within)

    async def expect_group(
        self, group: str, type_: str | None = None, within: float = 5.0
    ) -> Message:
        """The next event sent to ``group`` (of ``type_``, skipping others)."""
        return await self._expect(self.groups[group], type_, within)

    @staticmethod
    async def _expect(
        queue: asyncio.Queue[Message], type_: str | None, within: float
    ) -> Message:
        async with asyncio.timeout(within):
            while True:
                message = await queue.get()
                if type_ is None or message.get("type") == type_:
                    return message
