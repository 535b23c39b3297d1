"""A ref's entries directly under a prefix (objects, and folders up to a delimiter),
for the lakeFS API's ``ls`` and the web UI's object browser: a folder is one entry and
the listing seeks past its objects, so a page costs what it shows, not what lies in or
before its folders."""

from __future__ import annotations

from collections.abc import Iterator

from repos import ObjectInfo, Reference

PAST = "\U0010ffff"
"""The highest code point: ``folder + PAST`` sorts after (nearly) every path in it."""


def entries(
    ref: Reference, prefix: str, delimiter: str, after: str = ""
) -> Iterator[ObjectInfo | str]:
    """The objects under ``prefix`` (``ObjectInfo``) and, with a ``delimiter``, the folders
    (their common prefix, ending in it, as a ``str``) whose keys are greater than
    ``after``, sorted by key, each once."""
    seek, last = after, ""
    while True:
        for info in ref.objects(prefix, after=seek):
            i = info.path.find(delimiter, len(prefix)) if delimiter else -1
            if i < 0:
                yield info
                continue
            key = info.path[: i + len(delimiter)]
            if key > after and key != last:
                yield key
                last = key
            if key + PAST > seek:  # jump past the folder's objects: a new, seeking listing
                seek = key + PAST
                break
            # only paths that go on with U+10FFFF after the folder's key get here
        else:
            return
