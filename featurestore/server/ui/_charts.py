"""Small SVG charts drawn on the server: histograms, top-value bars and time lines.

Each function returns the SVG as ``Markup`` (safe to put in a template as is): every
label is escaped here. Two series compare a left and a right ref (two
colours); bars are shares of each side's rows, so sides of different sizes compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

__all__ = ["bars", "flow", "histogram", "line", "number_label", "time_label"]

W, H = 320, 120
COLORS = ("#2f6fde", "#e08a2e")
"""Series colours (left ref, right ref), set on each mark so no stylesheet is needed."""
PAD_L, PAD_B, PAD_T = 36, 18, 6


def number_label(value: float) -> str:
    """A short label: 3 significant digits, k/M for large values."""
    if value != value:  # NaN
        return "NaN"
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.3g}M"
    if a >= 1e4:
        return f"{value / 1e3:.3g}k"
    if a == int(a):
        return str(int(value))
    return f"{value:.3g}"


def time_label(seconds: float, precise: bool = False) -> str:
    """Epoch seconds as a UTC date and time (to the minute, or the second if ``precise``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime(
        "%Y-%m-%d %H:%M:%S" if precise else "%Y-%m-%d %H:%M"
    )


def _svg(body: list[str], title: str, width: int = W, height: int = H) -> Markup:
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def histogram(
    title: str,
    edges: Sequence[tuple[float, float]],
    series: Sequence[Sequence[int]],
    label: Callable[[float], str] = number_label,
) -> Markup:
    """Bars per bin, one colour per series (shares of that series' rows)."""
    shares = [_shares(s) for s in series]
    top = max((v for s in shares for v in s), default=0.0) or 1.0
    plot_w, plot_h = W - PAD_L - 4, H - PAD_B - PAD_T
    n = max(len(edges), 1)
    slot = plot_w / n
    bar = slot / max(len(series), 1)
    body = [
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{W - 4}" '
        f'y2="{PAD_T + plot_h}"/>',
        f'<text class="tick" x="{PAD_L - 3}" y="{PAD_T + 8}" text-anchor="end">{top:.0%}</text>',
    ]
    for si, values in enumerate(shares):
        for b, v in enumerate(values):
            h = plot_h * v / top
            x = PAD_L + b * slot + si * bar
            lo, hi = edges[b]
            tip = f"{label(lo)} to {label(hi)}: {v:.1%} (series {si + 1})"
            body.append(
                f'<rect fill="{COLORS[si % 2]}" x="{x:.1f}" y="{PAD_T + plot_h - h:.1f}" '
                f'width="{max(bar - 0.5, 0.5):.1f}" height="{h:.1f}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    if edges:
        body.append(
            f'<text class="tick" x="{PAD_L}" y="{H - 4}">{escape(label(edges[0][0]))}</text>'
        )
        body.append(
            f'<text class="tick" x="{W - 4}" y="{H - 4}" text-anchor="end">'
            f"{escape(label(edges[-1][1]))}</text>"
        )
    return _svg(body, title)


def bars(title: str, labels: Sequence[str], series: Sequence[Sequence[int]],
         totals: Sequence[int]) -> Markup:  # fmt: skip
    """Horizontal bars per value, one per series, as shares of ``totals`` (rows with a
    value on each side)."""
    row_h = 16
    height = max(len(labels), 1) * row_h * max(len(series), 1) + 8
    label_w = 110
    plot_w = W - label_w - 40
    body = []
    y = 4
    for i, name in enumerate(labels):
        shown = name if len(name) <= 16 else name[:15] + "…"
        body.append(
            f'<text class="tick" x="{label_w - 4}" y="{y + 11}" text-anchor="end">'
            f"{escape(shown)}</text>"
        )
        for si, counts in enumerate(series):
            share = counts[i] / totals[si] if totals[si] else 0.0
            w = plot_w * share
            body.append(
                f'<rect fill="{COLORS[si % 2]}" x="{label_w}" y="{y + 2}" width="{max(w, 0.5):.1f}" '
                f'height="{row_h - 4}"><title>{escape(name)}: {share:.1%}</title></rect>'
                f'<text class="tick" x="{label_w + w + 3:.1f}" y="{y + 11}">{share:.0%}</text>'
            )
            y += row_h
    return _svg(body, title, W, height)


def line(
    title: str,
    times: Sequence[float],
    values: Sequence[Sequence[float | None]],
    unit: str,
) -> Markup:
    """One polyline per series over ``times`` (epoch seconds) in ``unit``; None is a gap."""
    plot_w, plot_h = W - PAD_L - 4, H - PAD_B - PAD_T
    known = [v for s in values for v in s if v is not None]
    top = max(known, default=0.0) or 1.0
    body = [
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{W - 4}" '
        f'y2="{PAD_T + plot_h}"/>',
        f'<text class="tick" x="{PAD_L - 3}" y="{PAD_T + 8}" text-anchor="end">'
        f"{escape(number_label(top))}</text>",
        f'<text class="tick" x="{PAD_L - 3}" y="{PAD_T + plot_h}" text-anchor="end">0</text>',
    ]
    if len(times) >= 2:
        t0, t1 = times[0], times[-1]
        span = (t1 - t0) or 1.0
        for si, series in enumerate(values):
            runs: list[list[str]] = [[]]
            for t, v in zip(times, series, strict=True):
                if v is None:
                    runs.append([])
                    continue
                x = PAD_L + plot_w * (t - t0) / span
                y = PAD_T + plot_h - plot_h * v / top
                runs[-1].append(f"{x:.1f},{y:.1f}")
            for run in runs:
                if len(run) == 1:
                    cx, cy = run[0].split(",")
                    body.append(f'<circle fill="{COLORS[si % 2]}" cx="{cx}" cy="{cy}" r="3.5"/>')
                elif run:
                    body.append(
                        f'<polyline fill="none" stroke="{COLORS[si % 2]}" stroke-width="2" '
                        f'points="{" ".join(run)}"/>'
                    )
        body.append(
            f'<text class="tick" x="{PAD_L}" y="{H - 4}">{time_label(t0, True)[11:]}</text>'
        )
        body.append(
            f'<text class="tick" x="{W - 4}" y="{H - 4}" text-anchor="end">'
            f"{time_label(t1, True)[11:]} UTC</text>"
        )
    else:
        body.append(
            f'<text class="tick" x="{W / 2}" y="{H / 2}" text-anchor="middle">no samples yet</text>'
        )
    return _svg(body, title)


def flow(
    title: str, columns: Sequence[Sequence[str]], edges: Sequence[tuple[int, int, int, int]]
) -> Markup:
    """Boxes in columns (left to right) joined by arrows ``(column, row) -> (column, row)``;
    an arrow within one column bends out to the right of its boxes."""
    box_w, box_h, gap_x, gap_y = 210, 26, 70, 12
    rows = max((len(c) for c in columns), default=1)
    width = len(columns) * box_w + (len(columns) - 1) * gap_x + 40
    height = rows * (box_h + gap_y) + gap_y

    def place(col: int, row: int) -> tuple[float, float]:
        n = len(columns[col])
        offset = (height - n * (box_h + gap_y) + gap_y) / 2
        return col * (box_w + gap_x) + 4, offset + row * (box_h + gap_y)

    body = [
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#6b7385"/></marker></defs>'
    ]
    for ca, ra, cb, rb in edges:
        xa, ya = place(ca, ra)
        xb, yb = place(cb, rb)
        if ca == cb:
            x = xa + box_w
            body.append(
                f'<path fill="none" stroke="#6b7385" stroke-width="1.5" marker-end="url(#arrow)" '
                f'd="M{x:.0f},{ya + box_h / 2:.0f} C{x + 30:.0f},{ya + box_h / 2:.0f} '
                f'{x + 30:.0f},{yb + box_h / 2:.0f} {x:.0f},{yb + box_h / 2:.0f}"/>'
            )
            continue
        x1, y1, x2, y2 = xa + box_w, ya + box_h / 2, xb, yb + box_h / 2
        mid = (x1 + x2) / 2
        body.append(
            f'<path fill="none" stroke="#6b7385" stroke-width="1.5" marker-end="url(#arrow)" '
            f'd="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"/>'
        )
    for ci, column in enumerate(columns):
        for ri, text in enumerate(column):
            x, y = place(ci, ri)
            shown = text if len(text) <= 30 else text[:29] + "…"
            body.append(
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="5" '
                f'fill="{"#e7effd" if ci < len(columns) - 1 else "#fdf1dc"}" stroke="#9aa6bd"/>'
                f'<text x="{x + 8:.0f}" y="{y + 17:.0f}" font-size="12" fill="#1d2330">'
                f"{escape(shown)}<title>{escape(text)}</title></text>"
            )
    return _svg(body, title, width, height)
