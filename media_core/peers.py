"""A registry of ``RTCPeerConnection``\\ s keyed by the caller's own names.

A connection whose ``connectionState`` becomes ``failed`` is closed and
forgotten (and ``on_failed`` is told); ``close_all`` closes every one at
shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from aiortc import RTCConfiguration, RTCPeerConnection

logger = logging.getLogger(__name__)

FailedCallback = Callable[[Hashable], Awaitable[None] | None]


class PeerRegistry:
    """Owns peer connections; every one is closed exactly once."""

    def __init__(self, on_failed: FailedCallback | None = None) -> None:
        self._peers: dict[Hashable, RTCPeerConnection] = {}
        self._on_failed = on_failed
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Number of open connections."""
        return len(self._peers)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` names an open connection."""
        return key in self._peers

    def keys(self) -> list[Hashable]:
        """A snapshot of the keys."""
        return list(self._peers)

    def get(self, key: Hashable) -> RTCPeerConnection | None:
        """The connection named ``key``, if open."""
        return self._peers.get(key)

    def create(
        self, key: Hashable, configuration: RTCConfiguration | None = None
    ) -> RTCPeerConnection:
        """A new connection named ``key``; raises ``KeyError`` if the name is taken."""
        if key in self._peers:
            raise KeyError(f"peer {key!r} exists")
        pc = RTCPeerConnection(configuration)
        self._peers[key] = pc

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            logger.debug("peer %s is %s", key, pc.connectionState)
            if pc.connectionState == "failed" and self._peers.get(key) is pc:
                task = asyncio.ensure_future(self._fail(key, pc))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return pc

    async def _fail(self, key: Hashable, pc: RTCPeerConnection) -> None:
        logger.info("peer %s failed; closing it", key)
        await self.close(key)
        if self._on_failed is not None:
            result = self._on_failed(key)
            if result is not None:
                await result

    async def close(self, key: Hashable) -> bool:
        """Close and forget ``key``; ``False`` if there was no such connection."""
        pc = self._peers.pop(key, None)
        if pc is None:
            return False
        await pc.close()
        return True

    async def close_all(self) -> None:
        """Close every connection (shutdown)."""
        peers = list(self._peers.values())
        self._peers.clear()
        await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
