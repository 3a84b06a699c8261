"""How many status writes may be in flight at once: a limit that follows the API server.

Too few writes in flight and a burst of changes queues in the operator while the API
server idles; too many and they queue inside the API server (and etcd), where every
write waits for all the others and nothing is gained. The right number depends on how
busy the API server is, which changes by the second, so the limit adapts the way TCP
Vegas (and Netflix's concurrency-limits) does:

- ``base`` is the fastest round trip seen recently: the API server's cost when nothing
  waits. It drifts up slowly (``BASE_DRIFT`` per sample) so an API server that became
  slower for good is not held to an old record.
- After each write, the queue the limit causes is estimated as
  ``limit × (1 − base / latest)``: with every write taking ``base``, nothing queues.
  Below ``ALPHA`` waiting writes the limit grows by one (if at least half of it is in
  use); above ``BETA`` it shrinks by one; in between it holds. It stays within
  ``[minimum, maximum]``.

Waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

#: Estimated writes queued at the API server below which the limit grows, above which it shrinks.
ALPHA = 2.0
BETA = 4.0
#: How fast the base round trip forgets its record (fraction of the gap per sample).
BASE_DRIFT = 0.01


class AdaptiveLimit:
    """An asyncio semaphore whose size adapts to measured round trips (module docstring)."""

    def __init__(self, initial: int = 4, minimum: int = 1, maximum: int = 32) -> None:
        self.limit = max(minimum, min(initial, maximum))
        self.minimum = minimum
        self.maximum = maximum
        self.in_flight = 0
        self.base: float | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Writes waiting for a slot."""
        return sum(not w.done() for w in self._waiters)

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served)."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Give the slot back; the next waiter gets it if the limit allows."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def record(self, seconds: float) -> None:
        """A write took ``seconds``: adapt the limit."""
        if seconds <= 0:
            return
        if self.base is None or seconds < self.base:
            self.base = seconds
        else:
            self.base += (seconds - self.base) * BASE_DRIFT
        queued = self.limit * (1 - self.base / seconds)
        # Grow only a limit that is being used: writes trickling in one at a time say
        # nothing about how many the API server could take.
        used = self.in_flight + self.waiting >= self.limit // 2
        if queued < ALPHA and used and self.limit < self.maximum:
            self.limit += 1
            self._wake()
        elif queued > BETA and self.limit > self.minimum:
            self.limit -= 1

    async def __aenter__(self) -> AdaptiveLimit:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
