"""The watchdog of an embedded valkey-server: it runs the server as its child and stops
it once no process holds a lease on it.

Every process that uses the server holds an exclusive ``flock`` on a lease file of its
own under ``leases/`` in the server's folder. The kernel drops the lock when the process
ends, however it ends (exit, SIGTERM, SIGKILL), so the watchdog needs no signal from its
users: it polls the leases a few times a second and, when none is held, stops the
server (SIGTERM: valkey saves and exits) and then itself. The server is started with
``PR_SET_PDEATHSIG`` so that it also ends if the watchdog itself is killed.

Decisions to start, reuse or stop are taken under the folder's lock file, so a process
that arrives while the last user leaves either joins before the check or starts a new
server after it. This file is run as a script (``python _supervisor.py SPEC``) and
imports only the standard library, so that it starts in milliseconds; ``embedded``
imports its helpers.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCKFILE = "valkey.lock"
SUPERVISOR_LOCK = "valkey.supervisor.lock"
SUPERVISOR_PID = "valkey.supervisor.pid"
URLFILE = "valkey.url"
LEASES = "leases"
POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


def held(path: Path) -> bool:
    """Whether some live process holds the ``flock`` of ``path`` (False if it is absent)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def live_leases(directory: Path, *, prune: bool = True) -> list[Path]:
    """The lease files whose process still holds them; the others are removed.

    Call it under the folder lock: a lease is created and locked under that lock, so
    an unlocked lease file seen here belongs to a process that has ended.
    """
    try:
        entries = sorted((directory / LEASES).iterdir())
    except OSError:
        return []
    alive = []
    for path in entries:
        if held(path):
            alive.append(path)
        elif prune:
            with contextlib.suppress(OSError):
                path.unlink()
    return alive


@contextlib.contextmanager
def folder_lock(directory: Path, timeout: float) -> Iterator[None]:
    """Hold the folder's lock, waiting at most ``timeout`` seconds (TimeoutError)."""
    fd = os.open(directory / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{directory / LOCKFILE} stayed locked for {timeout}s"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def try_folder_lock(directory: Path) -> int | None:
    """The folder lock's descriptor if it is free now, else None (no waiting)."""
    try:
        fd = os.open(directory / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def ping(url: str, timeout: float = 0.5) -> bool:
    """Whether the server at ``url`` (``unix://path`` or ``redis://host:port``) answers PING."""
    try:
        if url.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = url[len("unix://") :]
        else:
            host, _, port = url[len("redis://") :].partition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (host, int(port.split("/")[0]))
    except ValueError:
        return False
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _die_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when ``parent`` ends (Linux)."""

    def set_death_signal() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


def _remove_own_files(directory: Path, url: str, socket_path: str | None) -> None:
    """Remove the url, socket and pid files if they are still this watchdog's."""
    with contextlib.suppress(OSError, ValueError):
        if int((directory / SUPERVISOR_PID).read_text().strip()) != os.getpid():
            return
        with contextlib.suppress(OSError):
            if (directory / URLFILE).read_text().strip() == url:
                (directory / URLFILE).unlink()
        if socket_path:
            with contextlib.suppress(OSError):
                Path(socket_path).unlink()
            if Path(socket_path).parent != directory:  # the short folder made for it
                with contextlib.suppress(OSError):
                    Path(socket_path).parent.rmdir()
        (directory / SUPERVISOR_PID).unlink()


def _stop(server: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            server.terminate()  # valkey saves (if configured) and exits
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                server.kill()
            server.wait()


def _report(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(1, (line.replace("\n", " ") + "\n").encode())


def main(spec_json: str) -> int:
    """Detach, start the server, say ``ready PID`` (or ``error ...``) on stdout, then watch."""
    spec = json.loads(spec_json)
    directory = Path(spec["directory"])
    url: str = spec["url"]
    socket_path: str | None = spec.get("socket_path")
    if os.fork() > 0:  # the starter reaps this parent at once: the watchdog is no zombie
        os._exit(0)
    os.setsid()
    lock_fd = os.open(directory / SUPERVISOR_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _report(f"error another watchdog already runs for {directory}")
        return 1
    (directory / SUPERVISOR_PID).write_text(f"{os.getpid()}\n")
    log = open(spec["logfile"], "ab")  # noqa: SIM115  (open for the server's lifetime)
    try:
        server = subprocess.Popen(
            spec["args"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with(os.getpid()),  # safe: this process has one thread
        )
    except OSError as e:
        _report(f"error cannot run valkey-server ({spec['args'][0]}): {e}")
        _remove_own_files(directory, url, socket_path)
        return 1
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    deadline = time.monotonic() + float(spec["timeout"])
    while not ping(url, timeout=0.2):
        if server.poll() is not None or time.monotonic() > deadline or stopping:
            _stop(server)
            _report(f"error valkey-server did not answer PING on {url} within {spec['timeout']}s")
            _remove_own_files(directory, url, socket_path)
            return 1
        time.sleep(0.02)
    (directory / URLFILE).write_text(url + "\n")
    _report(f"ready {server.pid}")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        while not stopping and server.poll() is None:
            time.sleep(POLL_S)
            locked = try_folder_lock(directory)
            if locked is None:
                continue  # a user is joining or leaving: look again next time
            try:
                if not live_leases(directory):
                    _stop(server)
                    _remove_own_files(directory, url, socket_path)
                    return 0
            finally:
                os.close(locked)
    finally:
        _stop(server)
        _remove_own_files(directory, url, socket_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
