"""Every fenced code block of README.md and of each examples/*/README.md runs as written.

A README's blocks run in order, from the root of a fresh copy of the checkout (the files
git tracks, and new ones it does not ignore): that is what a reader who cloned the
repository and ran the README's first line has. Files a block names must exist by then,
made by an earlier block or in the checkout. The conventions:

- ``python`` blocks run in one interpreter per README section (``#`` / ``##`` heading),
  in order, like the cells of one notebook started in the checkout: each block is kept
  as a file, so ``inspect`` reads the on-demand functions it defines, as in Jupyter or
  a ``.py`` file. Leaving the section ends the session, which must exit cleanly.
- ``bash`` blocks run with bash, one command per line; the first command that fails
  fails the test (a failing ``a`` in ``a && b`` too).
- ``featurestore serve`` runs until ``GET /health`` answers 200 and is then stopped with
  SIGTERM; it must exit 0. A free port replaces the README's 6566.
- A ``curl`` block talks to the server the prose just before it names
  (`` `VAR=... featurestore serve ...` ``), which the test starts with a generated value
  for each ``$..._KEY`` the block uses (``READER_KEY``: a reader key). Its ``# `` comment
  lines are the documented answer: the answer must match it, where ``[...]`` stands for
  any value and ``, ...]`` for more items.
- ``yaml`` blocks are ``featurestore.yaml`` files (Feast's ``feature_store.yaml`` when
  the text just before the block names that file): each must load with
  ``featurestore.config.load_config``.
- Blocks without a language (trees, layouts) are text, not code; indented (unfenced)
  lines such as a command's synopsis are prose.
- The blocks that install featurestore or run the test suite are not run here: the test
  command (``pip install -e '.[test]' && python -m pytest -q``, and the Development
  block's lint, types and tests) must be exactly what ``.ci/run`` runs, and the first
  line (``pip install -e . && featurestore demo``) runs in a fresh virtualenv in the
  slow suite.

No store setting of the test machine leaks in (``REDIS_URL`` and ``FEATURESTORE_*`` are
unset), so the README's embedded defaults are what runs; no embedded server may be left
running afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from featurestore.config import CONFIG_FILE, load_config
from featurestore.feast_config import FEAST_CONFIG_FILE
from tests.readme.ci_commands import ci_commands, covered, parts
from tests.readme.markdown_blocks import Block, commands, comment_text, read_blocks
from tests.readme.runners import (
    ROOT,
    PythonSession,
    bash_script,
    fresh_checkout,
    is_serve,
    reader_env,
    run_bash,
    serving,
    valkey_servers_under,
)

READMES = [
    "README.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*/README.md")),
]
SERVE_IN_PROSE = re.compile(r"`((?:[A-Za-z_]\w*=\S+\s+)*featurestore serve [^`]*)`")


def _is_setup(block: Block) -> bool:
    """A block that installs featurestore or runs the test suite."""
    return block.kind == "bash" and any(
        "pip install" in c or "pytest" in c for c in commands(block.code)
    )


_MORE = "<more items>"


def _documented(text: str) -> Any:
    """The documented answer of a comment: ``[...]`` is None (any value), and a list
    ending ``, ...]`` ends with ``_MORE`` (any further items)."""
    text = re.sub(r",\s*\.\.\.\s*\]", f', "{_MORE}"]', text.replace("[...]", "null"))
    return json.loads(text)


def _matches(actual: Any, documented: Any) -> bool:
    if documented is None:
        return True
    if isinstance(documented, dict):
        return isinstance(actual, dict) and all(
            k in actual and _matches(actual[k], v) for k, v in documented.items()
        )
    if isinstance(documented, list):
        more = bool(documented) and documented[-1] == _MORE
        shown = documented[:-1] if more else documented
        return (
            isinstance(actual, list)
            and (len(actual) >= len(shown) if more else len(actual) == len(shown))
            and all(_matches(a, d) for a, d in zip(actual, shown, strict=False))
        )
    return bool(actual == documented)


class _Reader:
    """Runs one README's blocks in order in ``work``."""

    def __init__(self, work: Path, logs: Path) -> None:
        self.work = work
        self.logs = logs
        self.env = reader_env()
        self.session: PythonSession | None = None
        self.section = ""

    def run(self, block: Block) -> None:
        assert block.kind is not None, (
            f"{block.where}: a ```{block.lang} block; say in tests/readme how it runs"
        )
        if block.section != self.section:
            self.end_section()
            self.section = block.section
        if block.kind == "python":
            self.python(block)
        elif block.kind == "bash" and not _is_setup(block):
            if any(c.lstrip().startswith("curl ") for c in commands(block.code)):
                self.curl(block)
            else:
                self.bash(block)
        elif block.kind == "yaml":
            self.config(block)

    def python(self, block: Block) -> None:
        if self.session is None:
            log = self.logs / f"python-{block.line}.log"
            self.session = PythonSession(self.work, self.env, log)
        ok, output = self.session.run(block.code, f"{block.readme}_{block.line}")
        assert ok, f"{block.where} failed:\n{output}"

    def bash(self, block: Block) -> None:
        pending: list[str] = []
        for command in [*commands(block.code), None]:
            if command is not None and not is_serve(command):
                pending.append(command)
                continue
            if pending:
                result = run_bash(pending, self.work, self.env)
                assert result.returncode == 0, (
                    f"{block.where}: exit {result.returncode}\n{bash_script(pending)}\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
                )
                pending = []
            if command is not None:
                with serving(command, self.work, self.env):
                    pass

    def curl(self, block: Block) -> None:
        named = SERVE_IN_PROSE.findall(block.prose_before)
        assert named, f"{block.where}: say in the text before a curl block which server it calls"
        keys = {name: f"{name.lower()}-{secrets.token_hex(8)}"
                for name in re.findall(r"\$(\w+_KEY)\b", block.code + named[-1])}  # fmt: skip
        env = {**self.env, **keys}
        with serving(named[-1], self.work, env) as port:
            code = block.code.replace("6566", str(port))
            result = run_bash(commands(code), self.work, env)
        assert result.returncode == 0, f"{block.where}: exit {result.returncode}\n{result.stderr}"
        answer = json.loads(result.stdout)
        documented = _documented(comment_text(block.code))
        assert _matches(answer, documented), (
            f"{block.where}: the answer is not the documented one:\n{result.stdout}"
        )

    def config(self, block: Block) -> None:
        folder = self.logs / f"yaml-{block.line}"
        folder.mkdir()
        feast = FEAST_CONFIG_FILE in block.prose_before
        (folder / (FEAST_CONFIG_FILE if feast else CONFIG_FILE)).write_text(block.code)
        config = load_config(folder, env={})
        assert config.project == yaml.safe_load(block.code)["project"], block.where

    def end_section(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            code = session.close()
            assert code == 0, f"the python session of {self.section!r} exited {code}:\n" + (
                session.output()
            )


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    work = fresh_checkout(tmp_path / "checkout")
    yield work
    left = valkey_servers_under(work)
    assert left == [], f"embedded Redis servers left running: {left}"


@pytest.mark.parametrize("readme", READMES)
def test_readme_blocks_run_as_written(readme: str, checkout: Path, tmp_path: Path) -> None:
    blocks = read_blocks(checkout / readme, readme)
    assert any(b.kind in ("python", "bash") and not _is_setup(b) for b in blocks), readme
    logs = tmp_path / "logs"
    logs.mkdir()
    reader = _Reader(checkout, logs)
    try:
        for block in blocks:
            reader.run(block)
    finally:
        reader.end_section()


def _setup_commands() -> tuple[str, list[str]]:
    """The README's first line (install and demo) and every other setup command."""
    blocks = [b for r in READMES for b in read_blocks(ROOT / r, r) if _is_setup(b)]
    first, *rest = blocks
    assert first == read_blocks(ROOT / "README.md", "README.md")[0], "setup comes first"
    demo = commands(first.code)[0]
    others = [c for b in [first, *rest] for c in commands(b.code) if c != demo]
    return demo, [p for c in others for p in parts(c)]


def test_test_commands_are_what_ci_runs() -> None:
    demo, others = _setup_commands()
    assert "featurestore demo" in demo and "pip install -e ." in demo
    assert any("pytest" in c for c in others)
    ci = ci_commands(ROOT / ".ci" / "run")
    missing = [c for c in others if not covered(c, ci)]
    assert missing == [], f"README commands .ci/run does not run as written: {missing}"


def test_every_block_is_classified() -> None:
    unknown = [b.where for r in READMES for b in read_blocks(ROOT / r, r) if b.kind is None]
    assert unknown == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_first_line_installs_and_runs_the_demo(checkout: Path) -> None:
    """The README's first line, for real: a new virtualenv, ``pip install -e .``, the demo."""
    demo, _ = _setup_commands()
    result = subprocess.run(
        ["bash", "-c", bash_script([demo])],
        cwd=checkout,
        env=reader_env(),
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert result.returncode == 0, f"{demo}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "Demo finished" in result.stdout
    where = subprocess.run(
        [str(checkout / ".venv" / "bin" / "python"), "-c",
         "import featurestore; print(featurestore.__file__)"],
        cwd="/", capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(checkout), where
