"""A depth source whose frames are made in a child process, for sources that make them on our CPU.

The synthetic body is *rendered* when read (ray casting and sensor noise, more CPU per frame than
classifying it). Read by the live view's reader thread, that work took a core and the GIL from
the classifier and halved the frames shown (``segstudio bench depthview``). ``RenderAheadSource``
runs any picklable source in a child process (a fork server, never a fork of the caller, which
runs Qt threads; spawn where there is none) that keeps at most ``ahead`` frames queued, so the
parent only unpickles finished frames. A frame rendered ahead but never read is dropped at close.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from typing import Any

from segstudio.depth.sources import DepthFrame, DepthSource, SourceError

POLL_S = 0.25
"""How often a blocked read or put looks whether the other side is still there."""


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _produce(source: DepthSource, frames: Any, stop: Any) -> None:
    """The child: open, read and queue frames until the end, ``stop`` or an error (queued as text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    item: DepthFrame | str | None = None
    try:
        source.open()
        while not stop.is_set():
            item = source.read()
            while not stop.is_set():
                try:
                    frames.put(item, timeout=POLL_S)
                    break
                except queue.Full:
                    continue
            if item is None:
                return
    except Exception as error:  # noqa: BLE001 (every failure reaches the parent as its message)
        frames.put(str(error) or type(error).__name__)
    finally:
        source.close()


class RenderAheadSource:
    """``source`` read in a child process, ``ahead`` frames at most made before they are asked for."""

    def __init__(self, source: DepthSource, ahead: int = 2) -> None:
        self.source = source
        self.fps = source.fps
        self.ahead = ahead
        self._process: Any = None
        self._frames: Any = None
        self._stop: Any = None

    def open(self) -> None:
        context = _context()
        self._frames = context.Queue(maxsize=self.ahead)
        self._stop = context.Event()
        self._process = context.Process(
            target=_produce, args=(self.source, self._frames, self._stop), name="depth-render", daemon=True
        )
        self._process.start()

    def read(self) -> DepthFrame | None:
        """The next frame (None at the end of a finite source); a failure in the child raises here."""
        if self._process is None:
            raise SourceError("the source is not open")
        while True:
            try:
                item = self._frames.get(timeout=POLL_S)
            except queue.Empty:
                if not self._process.is_alive() and self._frames.empty():
                    raise SourceError("the frame renderer ended without a word") from None
                continue
            if isinstance(item, str):
                raise SourceError(item)
            return item

    def close(self) -> None:
        """Stop the child and wait for it (briefly; a stuck one is terminated)."""
        process, self._process = self._process, None
        if process is None:
            return
        self._stop.set()
        try:
            while True:  # unblock a child waiting to put
                self._frames.get_nowait()
        except (queue.Empty, OSError, ValueError):
            pass
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        self._frames.close()
        self._frames.join_thread()
