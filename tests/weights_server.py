"""A real HTTP server on 127.0.0.1 serving weights files, for the download tests (CLI, GUI, models).

It honours Range requests (or not, when told), can cut the connection once after some bytes, and
can hold the body after some bytes until the test opens ``gate`` (to cancel a download midway).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GATE_TIMEOUT_S = 30.0


@dataclass
class Served:
    """What the test server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: list[str | None] = field(default_factory=list)
    honour_range: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes, once
    hold_after: int | None = None  # send this many body bytes, then wait for ``gate``, once
    gate: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:
            data = served.files.get(self.path.lstrip("/"))
            requested = self.headers.get("Range")
            served.ranges.append(requested)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if requested and served.honour_range:
                start = int(requested.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.cut_after is not None:
                body, served.cut_after = body[: served.cut_after], None
                self.close_connection = True
            if served.hold_after is not None:
                head, body, served.hold_after = body[: served.hold_after], body[served.hold_after :], None
                self.wfile.write(head)
                self.wfile.flush()
                served.holding.set()
                served.gate.wait(GATE_TIMEOUT_S)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self.wfile.write(body)

    return Handler


@contextmanager
def serving() -> Iterator[Served]:
    """A server on a free port of 127.0.0.1 for the duration of the block."""
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.gate.set()  # never leave a handler waiting
        httpd.shutdown()
        httpd.server_close()
