"""Error messages in the command line's own words: the library's messages name Python
arguments and methods (``allow_empty=True``, ``repo.tags()``); a command names its
options and commands instead, and leaves out DuckDB's class names and query echo."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["cli_words"]

# (pattern, replacement), applied in order to every error line the CLI prints.
_WORDS: Final[tuple[tuple[str, str], ...]] = (
    (r"allow an empty merge \(allow_empty=True, --allow-empty\)", "pass --allow-empty"),
    (r"\ballow_empty=True\b", "--allow-empty"),
    (
        r"; resolve them on one side or pass strategy='source-wins' or 'dest-wins'",
        "; resolve them on one side or pass --strategy source-wins or --strategy dest-wins",
    ),
    (r"use None, 'source-wins' or 'dest-wins'", "use source-wins or dest-wins"),
    (r"\bstrategy='source-wins' or 'dest-wins'", "--strategy source-wins or dest-wins"),
    (r" or pass exist_ok=True", ""),
    (
        r"create it with repo\.branch\('([^']*)'\)\.create\(source\)",
        r"create it with `featurestore branch create \1`",
    ),
    (r"create one with Repository\.create\(\)", "create one with `featurestore init`"),
    (r"open it with Repository\.open\(\)", "open it"),
    (r"see repo\.tags\(\)", "see `featurestore tag list`"),
    (r"see protected_patterns\(\)", "see `featurestore protect`"),
    (
        r"unprotect it before deleting it",
        "unprotect it first (`featurestore protect --remove PATTERN`)",
    ),
    (r"invalid parent_number", "invalid --parent"),
    (r"invalid max_amount", "invalid -n/--max-count"),
    (r"pass entity_df, or both start_date and end_date", "pass an entity file"),
    (r"\bpartial=True\b", "--partial"),
    # DuckDB's own words: its error class names, the echoed query and system tables.
    (r"(?s)\s*LINE \d+:.*$", ""),
    (r'!? ?Did you mean "(pg_|duckdb_|information_schema|sqlite_)[^"]*"\?', ""),
    (
        r"Table with name (\S+) does not exist!?",
        r"no table named \1 (each table is named as in `featurestore list sources`)",
    ),
    (
        r"\b(Parser|Catalog|Binder|Conversion|Invalid Input|Not implemented|Out of Range"
        r"|Constraint|Permission) Error: ",
        "",
    ),
)


def cli_words(message: str) -> str:
    """``message`` with the library's argument and method names said as the CLI's."""
    for pattern, replacement in _WORDS:
        message = re.sub(pattern, replacement, message)
    return message
