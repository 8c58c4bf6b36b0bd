"""Running the web service under uvicorn (issue 18): in the foreground until a signal
(`digest serve`), or in a daemon thread beside the scheduler (`digest run` with web.enabled).
With digest.serve (the preview and editing page), the only importer of uvicorn. Decides
nothing about requests: digest.web.app answers them.

X-Forwarded-For is believed only from `web.trusted_proxies` (uvicorn's proxy-headers
middleware then puts the client's address in the request); with none listed it is ignored, so
a client cannot choose the address its rate limits and consent record are kept under.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType

import uvicorn

from digest.app import App
from digest.errors import DigestError
from digest.web.app import make_web_app

START_WITHIN = 60.0  # seconds for the thread to be listening; more is a hang


def uvicorn_config(app: App, *, host: str, port: int) -> uvicorn.Config:
    trusted = list(app.settings.web.trusted_proxies)
    return uvicorn.Config(
        make_web_app(app), host=host, port=port,
        # the same everywhere, whatever else is installed (uvloop, httptools): asyncio and h11
        loop="asyncio", http="h11",
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted,
        # The CLI configures logging (house style); uvicorn's own access log would write
        # every reader's token (the query string): digest.web.guard logs paths only.
        log_config=None, access_log=False, server_header=False,
        # the body limit is ours (web.max_body); this bounds what h11 buffers for headers
        h11_max_incomplete_event_size=16 * 1024)


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or SIGINT ends it like a shutdown and the
    process then exits 0 (`digest serve` under Docker or systemd): uvicorn would raise the
    signal again once it has stopped, and the process would die of it."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for open connections
        else:
            self.should_exit = True


def serve(app: App, *, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn finishes the requests under way)."""
    server = _Server(uvicorn_config(app, host=host, port=port))
    _run(server)
    if not server.started:
        raise DigestError(f"the web service could not listen on {host}:{port} (see the log)")


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A web service listening in a daemon thread; `port` is the one it got (for port 0)."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop listening, let the requests under way finish, and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)


def run_in_thread(app: App, host: str, port: int) -> RunningServer:
    """Start the service in a daemon thread and return once it listens; DigestError when it
    cannot (the port is taken, the address is not ours)."""
    server = _Server(uvicorn_config(app, host=host, port=port))
    # uvicorn installs signal handlers only in the main thread: the caller keeps its own
    thread = threading.Thread(target=_run, args=(server,), name="digest-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WITHIN
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise DigestError(f"the web service could not listen on {host}:{port} "
                              "(see the log)")
        time.sleep(0.01)
    sockets = [s for listener in server.servers for s in listener.sockets]
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return RunningServer(server, thread, host, bound)


def _run(server: uvicorn.Server) -> None:
    with suppress(SystemExit):  # uvicorn's answer to a port it cannot bind, logged already
        server.run()
