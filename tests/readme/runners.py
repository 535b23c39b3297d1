"""What runs a README's blocks: a fresh copy of the checkout, one Python interpreter per
section, bash, and ``featurestore serve`` started, checked ready and stopped."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
README_PORT = "6566"
BLOCK_TIMEOUT_S = 180.0

# Settings of the test machine that a reader of the README does not have.
_MACHINE_ENV = re.compile(r"^(REDIS_URL|FEATURESTORE_\w+)$")

_DRIVER = """\
import json, os, sys, traceback
sys.path[0] = ""  # like an interactive interpreter: the working folder comes first
results = os.fdopen(int(sys.argv[1]), "w")
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    request = json.loads(line)
    try:
        with open(request["path"], encoding="utf-8") as source:
            exec(compile(source.read(), request["path"], "exec"), namespace)
        ok = True
    except BaseException:
        traceback.print_exc()
        ok = False
    sys.stdout.flush()
    sys.stderr.flush()
    results.write(json.dumps({"ok": ok}) + "\\n")
    results.flush()
"""


def fresh_checkout(target: Path) -> Path:
    """Copy the checkout's files (tracked, and new ones git does not ignore) to ``target``."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    target.mkdir(parents=True)
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = ROOT / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        else:
            shutil.copy2(source, dest)
    return target


def reader_env(**extra: str) -> dict[str, str]:
    """This process's environment as a reader has it: no machine-wide store settings, and
    this interpreter's ``python`` and ``featurestore`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not _MACHINE_ENV.match(k)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PythonSession:
    """One interpreter that runs blocks in turn in a shared namespace, like a notebook's
    cells: each block is saved to a file first, so ``inspect`` finds the source of the
    functions it defines (as Jupyter does; the bare ``python`` prompt keeps none)."""

    def __init__(self, cwd: Path, env: Mapping[str, str], log: Path) -> None:
        driver = log.with_suffix(".driver.py")
        driver.write_text(_DRIVER)
        self.log = log
        self._results, write = os.pipe()
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(driver), str(write)],
            stdin=subprocess.PIPE,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(write,),
            cwd=cwd,
            env=dict(env),
            text=True,
        )
        os.close(write)
        self._buffer = b""

    def run(self, code: str, name: str) -> tuple[bool, str]:
        """Run ``code`` saved as ``name``.py; whether it raised nothing, and what the session
        printed so far."""
        assert self.process.stdin is not None
        path = self.log.parent / f"{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')}.py"
        path.write_text(code, encoding="utf-8")
        self.process.stdin.write(json.dumps({"path": str(path)}) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + BLOCK_TIMEOUT_S
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._results], [], [], max(left, 0))
            if not ready:
                return False, self.output() + f"\n(no answer within {BLOCK_TIMEOUT_S} s)"
            chunk = os.read(self._results, 4096)
            if not chunk:
                return False, self.output() + "\n(the interpreter exited)"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return bool(json.loads(line)["ok"]), self.output()

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text()[-6000:]

    def close(self) -> int:
        """End the session as a reader leaving the interpreter would; its exit status."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self._results)
            self._log_file.close()


def bash_script(commands: list[str]) -> str:
    """A script that stops at the first command that fails, ``a && b`` lines included."""
    lines = ["set -o pipefail"]
    for command in commands:
        lines.append(f"{{ {command}\n}} || exit $?")
    return "\n".join(lines) + "\n"


def run_bash(
    commands: list[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", bash_script(commands)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )


_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


def is_serve(command: str) -> bool:
    """Whether ``command`` is ``[VAR=value ...] featurestore serve ...``."""
    words = [w for w in shlex.split(command, comments=True) if not _ASSIGNMENT.match(w)]
    return words[:2] == ["featurestore", "serve"]


@contextmanager
def serving(command: str, cwd: Path, env: Mapping[str, str]) -> Iterator[int]:
    """Run a ``featurestore serve`` command on a free port in place of the README's; yield
    the port once ``GET /health`` answers 200; stop it with SIGTERM and check it ends
    cleanly (exit 0, or killed by the SIGTERM it re-raises after shutting down)."""
    port = free_port()
    command = command.replace(README_PORT, str(port))
    # exec, through env when the command sets variables, so SIGTERM reaches the server
    prefix = "exec env " if _ASSIGNMENT.match(command) else "exec "
    log = (cwd / f".serve-{port}.log").open("w+")
    process = subprocess.Popen(
        ["bash", "-c", prefix + command],
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"{command!r} exited {process.returncode}:\n{log.read()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"{command!r} never answered /health:\n{log.read()}")
            time.sleep(0.2)
        yield port
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        log.seek(0)
        # uvicorn re-raises SIGTERM once it has shut down cleanly
        assert code in (0, -signal.SIGTERM), f"{command!r} exited {code} on SIGTERM:\n{log.read()}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def valkey_servers_under(folder: Path) -> list[int]:
    """valkey-server processes whose working folder lies under ``folder``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            name = (proc / "comm").read_text().strip()
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        if "valkey" in name and cwd.is_relative_to(folder.resolve()):
            found.append(int(proc.name))
    return found
