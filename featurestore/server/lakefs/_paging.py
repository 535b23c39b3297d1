"""lakeFS pagination: ``after``, ``amount`` and ``prefix`` in, ``pagination`` out.

A page holds the items whose key sorts after ``after`` (exclusive) and starts with
``prefix``, at most ``amount`` of them (default 100, at most 1000);
``pagination.next_offset`` is the last key returned when there are more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["DEFAULT_AMOUNT", "MAX_PER_PAGE", "Page", "Paging", "page", "page_in_order", "paging"]

T = TypeVar("T")
DEFAULT_AMOUNT = 100
MAX_PER_PAGE = 1000


@dataclass(frozen=True)
class Paging:
    """The paging parameters of a list request."""

    after: str = ""
    amount: int = DEFAULT_AMOUNT
    prefix: str = ""


@dataclass(frozen=True)
class Page:
    """One page of results and lakeFS's ``pagination`` object for it."""

    results: list[Any]
    has_more: bool
    next_offset: str

    def body(self, results: list[Any] | None = None) -> dict[str, Any]:
        """``{"pagination": ..., "results": ...}`` (``results`` as given, else the page's)."""
        shown = self.results if results is None else results
        return {
            "pagination": {
                "has_more": self.has_more,
                "next_offset": self.next_offset,
                "results": len(shown),
                "max_per_page": MAX_PER_PAGE,
            },
            "results": shown,
        }


def paging(request: Request) -> Paging:
    """The request's ``after``, ``amount`` and ``prefix``; 400 for a bad ``amount``."""
    params = request.query_params
    raw = params.get("amount")
    amount = DEFAULT_AMOUNT
    if raw is not None and raw != "":
        try:
            amount = int(raw)
        except ValueError:
            raise LakeFSError(400, f"amount must be a whole number, not {raw!r}") from None
        if amount < -1:
            raise LakeFSError(400, "amount must be -1 or more")
        if amount in (-1, 0):  # lakeFS: -1 (and 0) mean the default page size
            amount = DEFAULT_AMOUNT
        amount = min(amount, MAX_PER_PAGE)
    return Paging(params.get("after", ""), amount, params.get("prefix", ""))


def page(items: Iterable[T], key: Callable[[T], str], paging: Paging) -> Page:
    """The page of ``items`` (sorted by ``key``) that ``paging`` asks for."""
    chosen: list[T] = []
    more = False
    for item in sorted(items, key=key):
        k = key(item)
        if k <= paging.after or not k.startswith(paging.prefix):
            continue
        if len(chosen) == paging.amount:
            more = True
            break
        chosen.append(item)
    return Page(chosen, more, key(chosen[-1]) if more and chosen else "")


def page_in_order(items: Iterable[T], key: Callable[[T], str], paging: Paging) -> Page:
    """The page of ``items`` in their own order (a commit log): those after the item
    whose key is ``after``, at most ``amount``."""
    chosen: list[T] = []
    more = False
    skipping = bool(paging.after)
    for item in items:
        k = key(item)
        if skipping:
            skipping = k != paging.after
            continue
        if len(chosen) == paging.amount:
            more = True
            break
        chosen.append(item)
    return Page(chosen, more, key(chosen[-1]) if more and chosen else "")
