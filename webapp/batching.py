"""A micro-batcher: concurrent requests share one SavedModel call.

A SavedModel call on a batch of 32 texts costs little more than on one, so
under load the server gathers the texts that arrive while the model is busy
(or within ``max_wait_seconds`` of the first) into one call, up to
``max_batch`` texts, and hands each request its rows back. A request alone
waits at most ``max_wait_seconds`` extra. The model runs on one worker
thread, so the event loop keeps accepting connections meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time


class QueueFull(Exception):
    """More texts are waiting than ``max_pending``; the caller answers 429."""


class MicroBatcher:
    """Gathers ``submit(items)`` calls into calls of ``function(list of items) -> list of results``.

    Args:
        function: maps a list of items to a list of results of the same length (runs on a thread).
        max_batch: most items in one call.
        max_wait_seconds: how long the first item of a batch waits for company.
        max_pending: most items waiting at once; more are refused with :class:`QueueFull`.
    """

    def __init__(self, function, max_batch=64, max_wait_seconds=0.002, max_pending=4096, name="batcher"):
        if max_batch < 1 or max_pending < 1 or max_wait_seconds < 0:
            raise ValueError("max_batch and max_pending must be positive and max_wait_seconds not negative")
        self.function = function
        self.max_batch = max_batch
        self.max_wait_seconds = max_wait_seconds
        self.max_pending = max_pending
        self.name = name
        self._queue = None
        self._worker = None
        self._pending = 0
        self._loop = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self.calls = 0
        self.items = 0

    async def submit(self, items):
        """Results for ``items`` (a list), computed with whatever else arrives meanwhile."""
        if not items:
            return []
        if self._pending + len(items) > self.max_pending:
            raise QueueFull(f"{self._pending} texts are already waiting for the {self.name} model")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._loop is not loop:
            # First use, or a new event loop (a test client opens one per session).
            self._loop, self._queue, self._pending = loop, asyncio.Queue(), 0
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._pending += len(items)
        await self._queue.put((list(items), future))
        return await future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            requests = [await self._queue.get()]
            count = len(requests[0][0])
            deadline = time.perf_counter() + self.max_wait_seconds
            while count < self.max_batch:
                remaining = deadline - time.perf_counter()
                try:
                    request = self._queue.get_nowait() if remaining <= 0 else \
                        await asyncio.wait_for(self._queue.get(), remaining)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                requests.append(request)
                count += len(request[0])
            batch = [item for items, _ in requests for item in items]
            self._pending -= len(batch)
            try:
                results = await loop.run_in_executor(self._executor, self.function, batch)
                results = list(results)
                if len(results) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(batch)} items gave {len(results)} results")
            except Exception as error:  # One bad batch fails its requests, never the worker.
                for _, future in requests:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.calls += 1
            self.items += len(batch)
            start = 0
            for items, future in requests:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)

    def close(self):
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
