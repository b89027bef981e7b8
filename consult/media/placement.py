"""Worker heartbeats and room placement in Redis (scaled mode).

Keys, under a prefix (``media`` by default, ``MEDIA_REDIS_PREFIX``):

- ``<p>:worker:<id>``  hash of the worker's last ``load()`` (peers, tracks, cpu,
  capacity, started_at, beat_at, ...), rewritten every 2 s with a 6 s TTL. Its
  existence is what "live" means.
- ``<p>:workers``      set of every worker id seen, so dead ones can be reaped.
- ``<p>:rooms:<id>``   set of the rooms placed on a worker; its size is the
  worker's room count, current even between heartbeats.
- ``<p>:room:<room>``  the worker id a room is placed on.

Every decision that reads and writes several keys is one Lua script, so it is
atomic: two web processes placing the same room at once get the same worker, and
exactly one of them learns that the previous worker was lost.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 2.0
HEARTBEAT_TTL_S = 6

# ARGV: prefix, room, composite weight. Returns {worker or false, lost worker
# or false}. A worker's load is its rooms plus its composite feeds (decode,
# draw and encode: ~75 % of a core at 1080p30) counted as ``weight`` rooms each.
_PLACE = """
local p, room, weight = ARGV[1], ARGV[2], tonumber(ARGV[3])
local room_key = p .. ':room:' .. room
local current = redis.call('GET', room_key)
local lost = false
if current then
  if redis.call('EXISTS', p .. ':worker:' .. current) == 1 then
    return {current, false}
  end
  redis.call('SREM', p .. ':rooms:' .. current, room)
  redis.call('DEL', room_key)
  lost = current
end
local best, best_score, best_peers = false, 0, 0
for _, id in ipairs(redis.call('SMEMBERS', p .. ':workers')) do
  local key = p .. ':worker:' .. id
  local cap = tonumber(redis.call('HGET', key, 'capacity'))
  if cap and cap > 0 then
    local rooms = redis.call('SCARD', p .. ':rooms:' .. id)
    local composites = tonumber(redis.call('HGET', key, 'composites')) or 0
    local used = rooms + weight * composites
    if used < cap then
      local score = used / cap
      local peers = tonumber(redis.call('HGET', key, 'peers')) or 0
      if (not best) or score < best_score
          or (score == best_score and peers < best_peers)
          or (score == best_score and peers == best_peers and id < best) then
        best, best_score, best_peers = id, score, peers
      end
    end
  end
end
if best then
  redis.call('SET', room_key, best)
  redis.call('SADD', p .. ':rooms:' .. best, room)
end
return {best, lost}
"""

# ARGV: prefix. Forgets every worker whose heartbeat key expired and unplaces
# the rooms still placed on it. Returns {worker, room, worker, room, ...}.
_REAP = """
local p = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', p .. ':workers')) do
  if redis.call('EXISTS', p .. ':worker:' .. id) == 0 then
    for _, room in ipairs(redis.call('SMEMBERS', p .. ':rooms:' .. id)) do
      if redis.call('GET', p .. ':room:' .. room) == id then
        redis.call('DEL', p .. ':room:' .. room)
        table.insert(out, id)
        table.insert(out, room)
      end
    end
    redis.call('DEL', p .. ':rooms:' .. id)
    redis.call('SREM', p .. ':workers', id)
  end
end
return out
"""

# ARGV: prefix, worker. A clean shutdown: the worker leaves and its rooms are
# unplaced at once. Returns the rooms that were placed on it.
_DEREGISTER = """
local p, id = ARGV[1], ARGV[2]
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', p .. ':rooms:' .. id)) do
  if redis.call('GET', p .. ':room:' .. room) == id then
    redis.call('DEL', p .. ':room:' .. room)
    table.insert(out, room)
  end
end
redis.call('DEL', p .. ':rooms:' .. id, p .. ':worker:' .. id)
redis.call('SREM', p .. ':workers', id)
return out
"""

# ARGV: prefix, room. Returns the worker the room was on, or false.
_RELEASE = """
local p, room = ARGV[1], ARGV[2]
local current = redis.call('GET', p .. ':room:' .. room)
if current then
  redis.call('SREM', p .. ':rooms:' .. current, room)
  redis.call('DEL', p .. ':room:' .. room)
end
return current
"""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a room lives now, and the worker it was lost from, if any."""

    worker_id: str | None
    lost_worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as /healthz shows it."""

    id: str
    load: dict[str, Any]
    age_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"id": self.id, "load": self.load, "age_s": self.age_s}


def _text(value: Any) -> str | None:
    if value is None or value is False:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


class WorkerRegistry:
    """Heartbeats, placement and reaping of media workers, on one Redis.

    One instance per event loop: redis-py's asyncio connections belong to the
    loop that opened them. ``for_current_loop()`` keeps one per running loop.
    """

    def __init__(
        self, url: str, *, prefix: str = "media", composite_weight: int = 15
    ) -> None:
        self.prefix = prefix
        # Rooms one composite feed counts as when placing (MEDIA_COMPOSITE_WEIGHT).
        self.composite_weight = composite_weight
        # Short timeouts: placement is on the signaling path and must fail fast.
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=3, decode_responses=True
        )
        self._place = self.redis.register_script(_PLACE)
        self._reap = self.redis.register_script(_REAP)
        self._deregister = self.redis.register_script(_DEREGISTER)
        self._release = self.redis.register_script(_RELEASE)

    _per_loop: weakref.WeakKeyDictionary[Any, WorkerRegistry] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def for_current_loop(cls) -> WorkerRegistry:
        """The registry of the running loop, configured from settings."""
        import asyncio

        from django.conf import settings

        loop = asyncio.get_running_loop()
        registry = cls._per_loop.get(loop)
        if registry is None:
            registry = cls(
                settings.REDIS_URL,
                prefix=settings.MEDIA_REDIS_PREFIX,
                composite_weight=settings.MEDIA_COMPOSITE_WEIGHT,
            )
            cls._per_loop[loop] = registry
        return registry

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

    async def heartbeat(
        self, worker_id: str, load: Mapping[str, Any], *, capacity: int
    ) -> None:
        """Record ``load`` as the worker's state for the next 6 s."""
        now = time.time()
        fields: dict[str, str] = {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in load.items()
            if name != "rooms"
        }
        fields.update(capacity=str(capacity), beat_at=f"{now:.3f}")
        fields.setdefault("started_at", f"{now:.3f}")
        key = self._key("worker", worker_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, HEARTBEAT_TTL_S)
            pipe.sadd(self._key("workers"), worker_id)
            await pipe.execute()

    async def deregister(self, worker_id: str) -> list[str]:
        """Remove a worker that is shutting down; returns the rooms it held."""
        rooms = await self._deregister(args=[self.prefix, worker_id])
        return [_text(room) or "" for room in rooms]

    async def place_room(self, room_id: str) -> Placement:
        """The room's live worker, placing it on the least-loaded one if needed.

        ``worker_id`` is None when no live worker has room to spare.
        """
        worker, lost = await self._place(
            args=[self.prefix, room_id, self.composite_weight]
        )
        placement = Placement(_text(worker), _text(lost))
        if placement.lost_worker_id:
            logger.warning(
                "media worker %s lost; room re-placed on %s",
                placement.lost_worker_id,
                placement.worker_id,
            )
        return placement

    async def room_worker(self, room_id: str) -> str | None:
        """The worker the room is placed on, live or not, without placing it."""
        return _text(await self.redis.get(self._key("room", room_id)))

    async def release_room(self, room_id: str) -> str | None:
        """Unplace a room that has closed; returns the worker it was on."""
        return _text(await self._release(args=[self.prefix, room_id]))

    async def reap(self) -> list[tuple[str, str]]:
        """Forget dead workers; returns ``(dead worker, room)`` for rooms unplaced."""
        flat = [_text(item) or "" for item in await self._reap(args=[self.prefix])]
        lost = list(zip(flat[::2], flat[1::2], strict=True))
        for worker_id in sorted({worker for worker, _ in lost}):
            logger.warning(
                "media worker %s expired; its rooms were unplaced", worker_id
            )
        return lost

    async def live_workers(self) -> list[WorkerInfo]:
        """Every worker whose heartbeat has not expired, by id."""
        ids = sorted(await self.redis.smembers(self._key("workers")))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id in ids:
                pipe.hgetall(self._key("worker", worker_id))
                pipe.scard(self._key("rooms", worker_id))
            replies = await pipe.execute()
        now = time.time()
        workers = []
        for worker_id, state, rooms in zip(
            ids, replies[::2], replies[1::2], strict=True
        ):
            if not state:
                continue
            load = {name: _number(value) for name, value in state.items()}
            load["rooms"] = rooms
            beat_at = float(load.pop("beat_at", now))
            workers.append(
                WorkerInfo(worker_id, load, round(max(0.0, now - beat_at), 3))
            )
        return workers
