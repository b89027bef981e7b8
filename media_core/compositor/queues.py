"""The compositor's bounded, thread-safe input queue."""

from __future__ import annotations

import collections
import threading
from typing import Final

import av

#: Sentinel telling the worker to flush and exit.
STOP: Final = object()


class InputQueue:
    """A bounded deque shared by the event loop (producer) and one worker.

    Producers never block: frames push out the oldest frame, packets are
    refused when full (the caller resynchronises on a keyframe). ``STOP`` is
    always accepted, past the bound.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._items: collections.deque[object] = collections.deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """Items waiting (not counting a pending STOP)."""
        return len(self._items)

    def put_dropping_oldest(self, item: av.VideoFrame) -> int:
        """Append ``item``, dropping the oldest items beyond the bound; return drops."""
        with self._cond:
            dropped = 0
            while len(self._items) >= self._maxsize and self._items[0] is not STOP:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def put_if_room(self, item: av.Packet) -> bool:
        """Append ``item`` only if there is room."""
        with self._cond:
            if len(self._items) >= self._maxsize:
                return False
            self._items.append(item)
            self._cond.notify()
            return True

    def put_stop(self) -> None:
        """Append ``STOP`` regardless of the bound."""
        with self._cond:
            self._items.append(STOP)
            self._cond.notify()

    def clear(self) -> int:
        """Discard every waiting item except ``STOP``; return how many went."""
        with self._cond:
            kept = [item for item in self._items if item is STOP]
            dropped = len(self._items) - len(kept)
            self._items = collections.deque(kept)
            return dropped

    def get(self) -> object:
        """Block until an item is available and return it (worker thread only)."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()
