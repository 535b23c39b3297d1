"""Usage errors and help in the command line's own words: a bad value names the option
as the README does (``-n/--max-count``) and says what it takes, an unknown command
lists the valid ones and suggests the likely one, and flags show no value in ``--help``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = ["plain_flags", "usage_message"]

# What a value of each pydantic error type should have been, in plain words.
_EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "datetime_parsing": "a date and time",
    "datetime_from_date_parsing": "a date and time",
}


def plain_flags(command: Any) -> None:
    """Show no value after a flag in ``--help`` (``--json``, not ``--json <bool>``): a
    flag takes none. Walks every command and group below ``command``, help options
    included."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    help_option = command.get_help_option(command.context_class(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        plain_flags(sub)


def option_names(param: Any) -> str:
    """The option as the README names it, short form first (``-n/--max-count``); an
    argument by its upper-case name (``REF``)."""
    opts = list(getattr(param, "opts", ()))
    if getattr(param, "param_type_name", "") == "argument" or not opts:
        return str(param.name or "value").upper()
    return "/".join(sorted(opts, key=lambda o: (o.startswith("--"), o)))


def _bad_value(error: Any) -> str | None:
    """``-n/--max-count takes a whole number, got 'abc'`` for a value that is not of the
    option's type; None when the error is not about a value's type."""
    cause = error.__cause__
    param = getattr(error, "param", None)
    if param is None or cause is None or not hasattr(cause, "errors"):
        return None
    first = cause.errors()[0]
    kind, given, limits = first.get("type", ""), first.get("input"), first.get("ctx") or {}
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        bound = next(iter(limits.values()), "")
        expected = f"a number of {words[kind]} {bound}"
    elif kind in ("enum", "literal_error") and "expected" in limits:
        expected = f"one of {limits['expected']}"
    else:
        expected = str(first.get("msg", "a valid value")).lower()
    return f"{option_names(param)} takes {expected}, got {given!r}"


def _no_such_command(error: Any, where: str) -> str | None:
    """An unknown command: the valid ones, and the likely one (a close name, or the one
    command of a group such as ``show``, with the word as its argument)."""
    found = re.match(r"No such command '(.*?)'\.", error.format_message())
    ctx = getattr(error, "ctx", None)
    if found is None or ctx is None:
        return None
    word = found[1]
    names = sorted(ctx.command.list_commands(ctx))
    close = difflib.get_close_matches(word, names, n=1)
    if close:
        hint = f"; did you mean `{where} {close[0]}`?"
    elif len(names) == 1 and not word.startswith("-"):
        hint = f"; did you mean `{where} {names[0]} {word}`?"
    else:
        hint = ""
    choices = f"its one command is {names[0]}" if len(names) == 1 else "use one of "
    choices += "" if len(names) == 1 else ", ".join(names)
    return f"`{where}` has no command {word!r}: {choices}{hint}"


def usage_message(error: Any) -> str:
    """One line for a usage error, ending with where to read more."""
    ctx = getattr(error, "ctx", None)
    where = ctx.command_path if ctx is not None else "featurestore"
    said = _bad_value(error) or _no_such_command(error, where)
    if said is None:
        said = " ".join(error.format_message().split())
    return f"{said} (see `{where} --help`)"
