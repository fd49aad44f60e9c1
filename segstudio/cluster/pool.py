"""``io.parallel.OrderedPool``'s contract on a Ray cluster: per-item work as Ray tasks, results in order.

A drop-in for ``OrderedPool`` (same ``with ... as pool: pool.map(task, items)``), so a dataset
command's per-image function runs on the cluster unchanged: items go out in chunks (one Ray task
each, to pay the scheduling once per ``CHUNK`` images), at most ``2 * slots`` chunks in flight,
and results come back in input order, so sums are added in the same order as in-process and
equal them to the last bit. Each worker process builds the context once per pool (keyed by the
pool's token) and keeps it for the pool's later chunks. A task's exception comes back from
``map`` at its item's turn, as one line (:class:`ClusterError` for Ray's own failures).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import Any, Generic, TypeVar

from segstudio.cluster.session import ClusterError, import_ray, one_line

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")

CHUNK = 8
"""Items per Ray task."""
IN_FLIGHT_PER_SLOT = 2

_contexts: dict[str, Any] = {}
"""In a worker process: the context of each pool it has run chunks for (a few per process)."""


def _run_chunk(
    token: str, make_context: Callable[[], Any] | None, task: Callable[[Any, Any], Any], items: list[Any]
) -> list[Any]:
    if token not in _contexts:
        _contexts.clear()  # a new pool: the previous one's context (an open project) is let go
        _contexts[token] = make_context() if make_context is not None else None
    context = _contexts[token]
    return [task(context, item) for item in items]


class RayOrderedPool(Generic[Context]):
    """``with RayOrderedPool(slots, make_context) as pool: for r in pool.map(task, items): ...``
    on the connected cluster (``session.connected``); ``slots``: chunks run at once."""

    def __init__(self, slots: int, make_context: Callable[[], Context] | None = None) -> None:
        if slots < 1:
            raise ValueError(f"a pool needs at least 1 slot, got {slots}")
        self.slots = slots
        self._make_context = make_context
        self._token = uuid.uuid4().hex
        self._ray = import_ray()
        self._remote = self._ray.remote(num_cpus=1)(_run_chunk)

    def __enter__(self) -> RayOrderedPool[Context]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    def map(self, task: Callable[[Context, Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """``task(context, item)`` of every item, in order."""
        ray = self._ray
        source = iter(items)
        pending: deque[Any] = deque()

        def submit() -> bool:
            chunk = list(islice(source, CHUNK))
            if chunk:
                pending.append(self._remote.remote(self._token, self._make_context, task, chunk))
            return bool(chunk)

        try:
            while len(pending) < self.slots * IN_FLIGHT_PER_SLOT and submit():
                pass
            while pending:
                try:
                    results = ray.get(pending.popleft())
                except ray.exceptions.RayTaskError as error:  # the task's own exception, as in-process
                    cause = getattr(error, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from error
                    raise ClusterError(one_line(error)) from error
                except ray.exceptions.RayError as error:
                    raise ClusterError(one_line(error)) from error
                submit()
                yield from results
        finally:
            for reference in pending:
                ray.cancel(reference)
