"""Service commands: ``serve`` the HTTP lookup service, and run the ``demo``."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer

from featurestore.cli.app import RepoOpt, app, project_dir
from featurestore.cli.session import CommandError, describe, fail


def _check_port(host: str, port: int) -> None:
    """Fail in one line, before anything starts, when ``port`` on ``host`` is taken
    (binding it as uvicorn will, with address reuse, so a port in TIME_WAIT is free)."""
    if port == 0:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError:
        return  # an unknown host: uvicorn says so
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise fail(f"port {port} on {host} is in use; pick another with --port") from None
            raise fail(f"cannot bind {host}:{port}: {e.strerror}") from None


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: server.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (default: server.port, 6566).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
    allow_public_without_keys: Annotated[
        bool,
        typer.Option(
            "--allow-public-without-keys",
            help="Bind beyond loopback with no API keys (anyone who can reach the "
            "address can then push values and read features).",
        ),
    ] = False,
    repo: RepoOpt = None,
) -> None:
    """Serve online lookups, pushes and versioning over HTTP until interrupted.

    With no API keys configured the server binds only to loopback, unless
    --allow-public-without-keys is given.
    """
    from featurestore.config import load_config
    from featurestore.server import serve as run_server
    from featurestore.server._serve import is_loopback

    try:
        repo = project_dir(repo)
        config = load_config(repo)  # fail early, in one line, on a missing or bad config
        bind = host or config.server.host
        if allow_public_without_keys or config.server.api_keys or is_loopback(bind):
            _check_port(bind, port or config.server.port)  # else serve refuses first
        run_server(
            repo,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            allow_public_without_keys=allow_public_without_keys,
        )
    except CommandError as e:
        raise fail(describe(e)) from None


@app.command()
def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Where to create the demo project (default: a "
            "temporary folder, removed afterwards).",
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Then serve the project's web UI until Ctrl-C."),
    ] = False,
) -> None:
    """Walk through the whole product on embedded defaults, in well under a minute."""
    from featurestore.demo import run

    try:
        run(workdir, serve=serve)
    except CommandError as e:
        raise fail(describe(e)) from None


@app.command()
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port (0: any free port).", min=0, max=65535)
    ] = 6567,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="A folder `featurestore demo --workdir` filled."),
    ] = None,
    repo: RepoOpt = None,
) -> None:
    """Open the web UI of a project (or the demo's workdir), read-only, until interrupted."""
    from featurestore.demo import PROJECT
    from featurestore.server.ui._local import serve_local

    try:
        folder = project_dir(repo)
        if workdir is not None:
            folder = workdir / PROJECT
            if not (folder / "featurestore.yaml").is_file():
                raise fail(
                    f"no demo project in {workdir}: run `featurestore demo --workdir {workdir}` "
                    "first, or give the project folder with --repo"
                )
        serve_local(
            folder,
            host,
            port,
            lambda url: typer.echo(f"featurestore UI (read-only) at {url} ; Ctrl-C stops it"),
        )
    except CommandError as e:
        raise fail(describe(e)) from None
