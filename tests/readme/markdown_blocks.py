"""The fenced code blocks of a Markdown file, with the section each sits in, and the
shell commands of a bash block."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
HEADING = re.compile(r"^(#{1,2})\s+(.*\S)\s*$")

# How each fence language is treated; anything else fails the test until it is classified.
KINDS = {
    "python": "python",
    "py": "python",
    "bash": "bash",
    "sh": "bash",
    "shell": "bash",
    "yaml": "yaml",
    "yml": "yaml",
    "": "text",
    "text": "text",
}


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and its text."""

    readme: str
    section: str
    lang: str
    code: str
    line: int
    prose_before: str
    """The text between the previous block (or heading) and this one."""

    @property
    def kind(self) -> str | None:
        return KINDS.get(self.lang.lower())

    @property
    def where(self) -> str:
        return f"{self.readme}:{self.line} ({self.section})"


def read_blocks(path: Path, name: str) -> list[Block]:
    """Every fenced block of ``path`` in order; ``section`` is the last ``#``/``##`` heading."""
    found: list[Block] = []
    section = ""
    fence: str | None = None
    lang = ""
    start = 0
    body: list[str] = []
    prose: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if fence is None:
            opened = FENCE.match(line)
            if opened:
                fence, lang, start, body = opened.group(1), opened.group(2), number, []
                continue
            heading = HEADING.match(line)
            if heading:
                section, prose = heading.group(2), []
            else:
                prose.append(line)
        elif line.strip() == fence:
            code = "\n".join(body) + "\n"
            found.append(Block(name, section, lang, code, start, "\n".join(prose)))
            fence, prose = None, []
        else:
            body.append(line)
    if fence is not None:
        raise ValueError(f"{name}:{start}: a code block is never closed")
    return found


def commands(code: str) -> list[str]:
    """The shell commands of a bash block: one per line, joined across ``\\`` line ends and
    open quotes; comment lines are left out."""
    out: list[str] = []
    pending = ""
    for line in code.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        out.append(pending)
        pending = ""
    if pending:
        raise ValueError(f"an unfinished command: {pending!r}")
    return out


def comment_text(code: str) -> str:
    """The ``# `` comment lines of a block, without the ``#``: what it documents as output."""
    return "\n".join(
        line.lstrip()[1:].strip() for line in code.splitlines() if line.lstrip().startswith("#")
    )
