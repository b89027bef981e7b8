"""A small asyncio TCP proxy that breaks connections on demand (Toxiproxy's model).

Toxics, applied to every live connection or to new ones:

- ``cut()``: close both sides cleanly (FIN);
- ``reset()``: abort both sides (RST, SO_LINGER 0);
- ``latency(mean, jitter)``: delay every chunk in both directions;
- ``blackhole(on)``: stop forwarding without closing (a half-open link);
- ``refuse(on)``: close new connections at once (a dead zone).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct


class FaultProxy:
    """Listen on a free loopback port and forward to ``upstream``."""

    def __init__(self, upstream_host: str, upstream_port: int, seed: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rng = random.Random(seed)
        self.mean = self.jitter = 0.0
        self.holes = False
        self.refusing = False
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.faults = 0

    async def start(self) -> FaultProxy:
        """Start listening; ``port`` is then set."""
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self.reset()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def cut(self) -> None:
        """Close every open connection cleanly."""
        self.faults += 1
        for client, upstream in list(self.connections):
            client.close()
            upstream.close()

    def reset(self) -> None:
        """Abort every open connection with a TCP reset."""
        self.faults += 1
        for client, upstream in list(self.connections):
            for writer in (client, upstream):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                writer.transport.abort()

    def latency(self, mean: float, jitter: float = 0.0) -> None:
        """Delay each chunk by ``mean`` ± ``jitter`` seconds."""
        self.mean, self.jitter = mean, jitter

    def blackhole(self, on: bool) -> None:
        """Swallow traffic without closing anything."""
        if on:
            self.faults += 1
        self.holes = on

    def refuse(self, on: bool) -> None:
        """Close new connections immediately."""
        self.refusing = on

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer)
            )
        finally:
            self.connections.discard(pair)
            writer.close()
            up_writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.mean or self.jitter:
                    delay = max(0.0, self.rng.gauss(self.mean, self.jitter))
                    await asyncio.sleep(delay)
                if self.holes:
                    continue
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
