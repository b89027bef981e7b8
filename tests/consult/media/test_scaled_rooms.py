"""Scaled media end to end: two uvicorn web processes, two media workers, real Redis.

Two participants join one room through different web processes (the real room
socket, ``/ws/rooms/<id>/``), publish video with aiortc and receive each other's
video through the one worker the room is placed on. That worker is then killed
(SIGKILL, no goodbye): the survivor's reaper notices the expired heartbeat, both
participants are told to renegotiate, and their media flows again through the
surviving worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client

from consult.accounts.models import Role
from consult.records.context import AccessContext
from consult.rooms import services
from tests.consult.media.test_command import wait_until_live, worker_env
from tests.factories import DepartmentFactory, UserFactory
from tests.uvicorn_server import database_url, free_port

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]
ROOT = Path(__file__).resolve().parents[3]
LOGS = ROOT / "var"
NO_ICE_SERVERS = RTCConfiguration(iceServers=[])


class Pattern(VideoStreamTrack):
    """A small moving test pattern (160x120, 15 fps), cheap to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        self.n += 1
        image = np.full((120, 160, 3), (self.n * 4) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = self.n * 6000, fractions.Fraction(1, 90000)
        return frame


class Participant:
    """A WebRTC client on the room socket of one web process."""

    def __init__(self, name: str, url: str, cookie: str, origin: str) -> None:
        self.name, self.url, self.cookie, self.origin = name, url, cookie, origin
        self.inbox: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(
            asyncio.Queue
        )
        self.pub: RTCPeerConnection | None = None
        self.sub: RTCPeerConnection | None = None
        self.participant = ""

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url,
            origin=self.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": self.cookie},
            proxy=None,
        )
        self.reader = asyncio.create_task(self._read())
        self.participant = (await self.next("welcome"))["participant"]

    async def _read(self) -> None:
        async for text in self.ws:
            message = json.loads(text)
            self.inbox[message["type"]].put_nowait(message)

    async def next(self, kind: str, limit_s: float = 20) -> dict[str, Any]:
        """The next message of ``kind``; an error reply fails the test at once."""
        async with asyncio.timeout(limit_s):
            while True:
                if not self.inbox["error"].empty():
                    raise AssertionError(
                        f"{self.name}: {self.inbox['error'].get_nowait()}"
                    )
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(self.inbox[kind].get(), 0.2)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def publish(self) -> None:
        """Offer a video track to the room's worker and apply its answer."""
        self.pub = RTCPeerConnection(NO_ICE_SERVERS)
        self.pub.addTrack(Pattern())
        await self.pub.setLocalDescription(await self.pub.createOffer())
        await self.send(
            {"type": "media.offer", "pc": "pub", "sdp": self.pub.localDescription.sdp}
        )
        answer = await self.next("media.answer")
        await self.pub.setRemoteDescription(
            RTCSessionDescription(answer["sdp"], "answer")
        )

    async def track_of(self, other: Participant) -> str:
        """Wait for the room's track list to include ``other``'s video."""
        while True:
            tracks = (await self.next("media.tracks"))["tracks"]
            for track in tracks:
                if track["participant"] == other.participant:
                    return track["track"]

    async def receive_frame_of(self, track_id: str) -> av.VideoFrame:
        """Subscribe to ``track_id``, answer the worker, return the first frame."""
        self.sub = RTCPeerConnection(NO_ICE_SERVERS)
        arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sub.on("track", lambda track: arrived.done() or arrived.set_result(track))
        await self.send({"type": "media.subscribe", "tracks": [track_id]})
        offer = await self.next("media.offer")
        await self.sub.setRemoteDescription(
            RTCSessionDescription(offer["sdp"], "offer")
        )
        await self.sub.setLocalDescription(await self.sub.createAnswer())
        await self.send(
            {"type": "media.answer", "pc": "sub", "sdp": self.sub.localDescription.sdp}
        )
        track = await asyncio.wait_for(arrived, 20)
        return await asyncio.wait_for(track.recv(), 20)

    async def drop_media(self) -> None:
        """Close both peers and forget stale track lists (as on renegotiation)."""
        for pc in (self.pub, self.sub):
            if pc is not None:
                await pc.close()
        self.pub = self.sub = None
        while not self.inbox["media.tracks"].empty():
            self.inbox["media.tracks"].get_nowait()

    async def close(self) -> None:
        await self.drop_media()
        await self.ws.close()
        self.reader.cancel()


@dataclass
class Cluster:
    """The processes of one scaled deployment and the Redis names they share."""

    web_urls: list[str]
    workers: dict[str, subprocess.Popen[bytes]]
    media_prefix: str


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    # Generous: on a loaded 2-core CI box importing Django, aiortc and OpenCV
    # in four processes at once takes tens of seconds.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"web process exited; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"web process did not listen; see {log}")


@pytest.fixture
def cluster(registry, media_prefix, media_layer) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    """Two uvicorn web processes and two ``manage.py media_worker`` processes."""
    env = {
        **worker_env(media_prefix, media_layer.prefix),
        "DATABASE_URL": database_url(connection.settings_dict),
    }
    processes: list[tuple[subprocess.Popen[bytes], Any]] = []

    def spawn(args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(LOGS / f"media-it-{name}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        processes.append((process, log))
        return process

    suffix = uuid.uuid4().hex[:6]
    workers = {
        f"w-it-{n}-{suffix}": spawn(
            ["manage.py", "media_worker", "--id", f"w-it-{n}-{suffix}"], f"worker-{n}"
        )
        for n in ("a", "b")
    }
    ports = [free_port(), free_port()]
    web = [
        spawn(
            [
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--ws-max-size",
                "262144",
            ],
            f"web-{n}",
        )
        for n, port in enumerate(ports)
    ]
    try:
        for n, (port, process) in enumerate(zip(ports, web, strict=True)):
            _wait_for_port(port, process, LOGS / f"media-it-web-{n}.log")
        yield Cluster(
            [f"ws://127.0.0.1:{port}" for port in ports], workers, media_prefix
        )
    finally:
        for process, _log in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _room_and_cookies() -> tuple[str, str, str]:
    department = DepartmentFactory()
    host = UserFactory(role=Role.SPECIALIST, department=department)
    guest = UserFactory(role=Role.SPECIALIST, department=department)
    room = services.room_create_adhoc(
        actor=host,
        title="Tumour board",
        invitee_ids=[guest.pk],
        ctx=AccessContext(channel="test"),
    )
    cookies = []
    for user in (host, guest):
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return str(room.pk), cookies[0], cookies[1]


@pytest.fixture
async def people(
    cluster: Cluster,
) -> AsyncIterator[tuple[str, Participant, Participant]]:
    """The room, and its two members each on a different web process."""
    room_id, host_cookie, guest_cookie = await sync_to_async(_room_and_cookies)()
    host = Participant(
        "host",
        f"{cluster.web_urls[0]}/ws/rooms/{room_id}/",
        host_cookie,
        cluster.web_urls[0].replace("ws://", "http://"),
    )
    guest = Participant(
        "guest",
        f"{cluster.web_urls[1]}/ws/rooms/{room_id}/",
        guest_cookie,
        cluster.web_urls[1].replace("ws://", "http://"),
    )
    await host.connect()
    await guest.connect()
    yield room_id, host, guest
    for person in (host, guest):
        await person.close()


async def _exchange(host: Participant, guest: Participant) -> list[av.VideoFrame]:
    """Both publish; each receives a decoded frame of the other's video."""
    await asyncio.gather(host.publish(), guest.publish())
    host_track, guest_track = await asyncio.gather(
        guest.track_of(host), host.track_of(guest)
    )
    return list(
        await asyncio.gather(
            guest.receive_frame_of(host_track), host.receive_frame_of(guest_track)
        )
    )


async def test_participants_on_two_web_processes_share_one_worker_and_survive_its_death(
    cluster, people, registry
) -> None:  # type: ignore[no-untyped-def]
    """Media flows between web processes through one worker; after that worker is
    killed the room is re-placed, both renegotiate, and media flows again."""
    room_id, host, guest = people
    for worker_id in cluster.workers:
        await wait_until_live(registry, worker_id)

    frames = await _exchange(host, guest)
    first_worker = await registry.room_worker(room_id)
    assert [frame.width for frame in frames] == [160, 160]
    assert first_worker in cluster.workers

    cluster.workers[first_worker].kill()
    await asyncio.gather(
        host.next("media.renegotiate"), guest.next("media.renegotiate")
    )
    await asyncio.gather(host.drop_media(), guest.drop_media())
    frames = await _exchange(host, guest)
    second_worker = await registry.room_worker(room_id)
    assert [frame.width for frame in frames] == [160, 160]
    assert second_worker in set(cluster.workers) - {first_worker}
