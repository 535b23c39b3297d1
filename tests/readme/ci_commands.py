"""The commands ``.ci/run`` runs, compared with the README's, word for word."""

from __future__ import annotations

import shlex
from pathlib import Path

Command = tuple[str, ...]


def normalized(command: str) -> Command:
    """``command``'s words, with what only changes output left out: ``-q``, pytest's
    ``-p PLUGIN``, ``--durations=N`` and ``--junitxml=PATH``; ``python -m pip`` is ``pip``;
    ``.ci/run``'s ``pytest_step NAME ARGS`` is ``python -m pytest ARGS``."""
    words = shlex.split(command, comments=True)
    if words[:1] == ["pytest_step"]:
        words = ["python", "-m", "pytest", *words[2:]]
    if words[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
        words = ["pip", *words[3:]]
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "-p":
            skip = True
        elif word != "-q" and not word.startswith(("--durations=", "--junitxml=")):
            out.append(word)
    return tuple(out)


def parts(line: str) -> list[str]:
    """The commands of a shell line: its ``&&`` parts."""
    return [p.strip() for p in line.split("&&") if p.strip()]


def ci_commands(script: Path) -> set[Command]:
    """Every simple command line of ``script`` (lines shlex cannot split are left out)."""
    found: set[Command] = set()
    for line in script.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for part in parts(line):
            try:
                words = normalized(part)
            except ValueError:
                continue
            if words:
                found.add(words)
    return found


def covered(command: str, ci: set[Command]) -> bool:
    """Whether CI runs ``command``; a pytest run may be split into ``-m "not slow"`` and
    ``-m slow``, or into those without the Spark suites and ``-m spark``, which together
    select the whole suite."""
    words = normalized(command)
    if words in ci:
        return True
    if "pytest" in words and "-m" not in words[words.index("pytest") :]:
        splits = (("not slow", "slow"), ("not slow and not spark", "slow and not spark", "spark"))
        return any({(*words, "-m", m) for m in split} <= ci for split in splits)
    return False
