"""The commit graph of one page of the log, as lanes and an SVG drawn on the server.

Commits come newest first (children before parents). Each lane holds the commit it
waits for; a commit takes the first lane waiting for it (other lanes waiting for it
join it there), its first parent continues its lane and each other parent (a merge)
gets a lane of its own. Lanes are never compacted, so an edge is a straight or a
single diagonal segment between two rows; edges to parents past the page run off its
bottom edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from repos import Commit

__all__ = ["GRAPH_ROW", "Graph", "layout"]

GRAPH_ROW = 28
"""Pixels per commit row (the ``.graph .row`` height in ui.css)."""
LANE = 16
RADIUS = 5
COLORS = ("#2f6fde", "#e08a2e", "#17923f", "#b03fb8", "#c23c3c", "#0e8a9a", "#7a6a00", "#5161c9")


@dataclass(frozen=True)
class Edge:
    """A line from (lane, row) to (lane, row + 1); ``merge`` for a second parent's."""

    from_lane: int
    to_lane: int
    row: int
    merge: bool
    color: int


@dataclass(frozen=True)
class Graph:
    """Each commit's lane, the edges between rows, and how many lanes are used."""

    lanes: tuple[int, ...]
    edges: tuple[Edge, ...]
    width: int

    def svg(self, commits: Sequence[Commit]) -> str:
        """The graph as an SVG element, one row per commit."""
        rows = len(self.lanes)
        width = LANE * max(self.width, 1) + LANE
        height = GRAPH_ROW * rows

        def x(lane: int) -> float:
            return LANE / 2 + LANE * lane + 4

        def y(row: int) -> float:
            return GRAPH_ROW / 2 + GRAPH_ROW * row

        parts = [
            f'<svg class="commit-graph" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="commit graph">'
        ]
        for e in self.edges:
            x1, y1, x2 = x(e.from_lane), y(e.row), x(e.to_lane)
            y2 = y(e.row + 1) if e.row + 1 < rows else height
            kind = "edge merge" if e.merge else "edge"
            color = COLORS[e.color % len(COLORS)]
            if x1 == x2:
                d = f"M{x1:g},{y1:g} L{x2:g},{y2:g}"
            else:  # leave the row straight, bend over, arrive straight
                mid = (y1 + y2) / 2
                d = f"M{x1:g},{y1:g} C{x1:g},{mid:g} {x2:g},{mid:g} {x2:g},{y2:g}"
            parts.append(f'<path class="{kind}" d="{d}" stroke="{color}"/>')
        for row, (lane, commit) in enumerate(zip(self.lanes, commits, strict=True)):
            merge = len(commit.parents) > 1
            color = COLORS[lane % len(COLORS)]
            parts.append(
                f'<circle class="node{" merge" if merge else ""}" cx="{x(lane):g}" '
                f'cy="{y(row):g}" r="{RADIUS + (1 if merge else 0)}" fill="{color}">'
                f"<title>{escape(commit.short_id)} {escape(commit.message[:80])}</title></circle>"
            )
        parts.append("</svg>")
        return "".join(parts)


def layout(commits: Sequence[Commit]) -> Graph:
    """Lanes and edges for ``commits`` (newest first, as the log gives them)."""
    waiting: list[str | None] = []
    lanes: list[int] = []
    edges: list[Edge] = []
    width = 0
    for row, commit in enumerate(commits):
        mine = [i for i, w in enumerate(waiting) if w == commit.id]
        if mine:
            lane = mine[0]
            for other in mine[1:]:
                waiting[other] = None
        else:
            lane = _free(waiting)
        lanes.append(lane)
        waiting[lane] = commit.parents[0] if commit.parents else None
        fresh: set[int] = set()  # lanes opened here for a merge's other parents
        joined: set[int] = set()  # lanes already waiting for one of them
        for parent in commit.parents[1:]:
            if parent in waiting:
                joined.add(waiting.index(parent))
            else:
                slot = _free(waiting, avoid=lane)
                waiting[slot] = parent
                fresh.add(slot)
        width = max(width, len(waiting))
        nxt = commits[row + 1].id if row + 1 < len(commits) else None
        next_lane = _next_lane(waiting, nxt)
        for i, w in enumerate(waiting):
            if w is None:
                continue
            # A lane ends in the next commit's lane when it waits for that commit.
            end = next_lane if (w == nxt and next_lane is not None) else i
            start = lane if (i == lane or i in fresh) else i
            edges.append(Edge(start, end, row, i in fresh, i))
            if i in joined:
                edges.append(Edge(lane, end, row, True, i))
    return Graph(tuple(lanes), tuple(edges), width)


def _free(waiting: list[str | None], avoid: int | None = None) -> int:
    for i, w in enumerate(waiting):
        if w is None and i != avoid:
            return i
    waiting.append(None)
    return len(waiting) - 1


def _next_lane(waiting: list[str | None], nxt: str | None) -> int | None:
    """The lane the next commit will take: the first waiting for it, else a free one."""
    if nxt is None:
        return None
    for i, w in enumerate(waiting):
        if w == nxt:
            return i
    return None
