"""One queue per web process that groups the crews' batches into flushes.

See ``group_commit`` for what a flush does; this module decides when one
runs and hands each socket its own outcome.
"""

from __future__ import annotations

import asyncio

from consult.emergency import ingest
from consult.emergency.group_commit import Outcome, Submission, ingest_many
from consult.exceptions import ConsultError


class IngestQueue:
    """One process's crew sockets share flushes: group commit on the event loop.

    ``submit`` queues a submission and waits for its flush. Up to ``writers``
    flushes run at once (each in a worker thread with its own connection); a
    flush takes every queued submission, up to ``max_submissions``. Under
    light load a flush holds one submission and adds nothing but a queue
    hop; under heavy load the queue fills while the database works, so the
    cost per batch falls as the load rises. One writer per process is the
    default: a second one halves every flush, and with it the amortisation
    (200 ambulances on their own phases: 2 writers saturated a process, 1
    kept the ack p99 under 200 ms).
    """

    def __init__(self, *, writers: int = 1, max_submissions: int = 64) -> None:
        self.writers = writers
        self.max_submissions = max_submissions
        self._pending: list[tuple[Submission, asyncio.Future[Outcome]]] = []
        self._running = 0
        self.flushes = 0
        self.submissions = 0

    async def submit(self, submission: Submission) -> ingest.IngestResult:
        """Store ``submission``; raises its ``ConsultError`` or the flush's error."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((submission, future))
        if self._running < self.writers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        outcome = await future
        if isinstance(outcome, ConsultError):
            raise outcome
        return outcome

    async def _drain(self) -> None:
        from channels.db import database_sync_to_async

        try:
            while self._pending:
                taken = self._pending[: self.max_submissions]
                del self._pending[: self.max_submissions]
                taken = [(s, f) for s, f in taken if not f.cancelled()]
                if not taken:
                    continue
                self.flushes += 1
                self.submissions += len(taken)
                try:
                    outcomes = await database_sync_to_async(
                        ingest_many, thread_sensitive=False
                    )([s for s, _f in taken])
                except Exception as exc:  # noqa: BLE001  (each waiter gets the error)
                    for _s, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_s, future), outcome in zip(taken, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._running -= 1


_queues: dict[asyncio.AbstractEventLoop, IngestQueue] = {}


def queue_for_loop() -> IngestQueue:
    """This event loop's queue (one per server process; tests get one per loop)."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        for old in [o for o in _queues if o.is_closed()]:
            del _queues[old]
        queue = _queues[loop] = IngestQueue()
    return queue
