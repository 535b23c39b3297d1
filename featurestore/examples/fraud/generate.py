"""Seeded card transactions.

Each card spends at its own typical amount; a few cards burst: many transactions
within minutes at several times their usual amount, labelled ``is_fraud``.
Run ``python examples/fraud/generate.py out.parquet [--end now]`` to write a file.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

END = datetime(2025, 1, 1, tzinfo=UTC)
FIRST_CARD_ID = 5000
CATEGORIES = ("grocery", "fuel", "travel", "electronics", "restaurants", "online")

SCHEMA = pa.schema(
    [
        pa.field("transaction_id", pa.int64(), nullable=False),
        pa.field("card_id", pa.int64(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("merchant_category", pa.string(), nullable=False),
        pa.field("is_fraud", pa.bool_(), nullable=False),
    ]
)


def generate(
    seed: int = 0,
    cards: int = 200,
    days: int = 30,
    transactions_per_card: int = 50,
    fraud_fraction: float = 0.02,
    end: datetime = END,
) -> pa.Table:
    """Return transactions sorted by event time; about ``fraud_fraction`` of cards burst."""
    if cards < 1 or days < 1 or transactions_per_card < 1:
        raise ValueError("cards, days and transactions_per_card must all be at least 1")
    rng = np.random.default_rng(seed)
    n = cards * transactions_per_card
    end_s = int(end.timestamp())
    card_idx = np.repeat(np.arange(cards), transactions_per_card)
    typical = rng.lognormal(3.5, 0.7, cards)
    amount = np.round(typical[card_idx] * rng.lognormal(0.0, 0.4, n), 2)
    event_s = end_s - rng.integers(60, days * 86_400, n, dtype=np.int64)
    category = rng.integers(0, len(CATEGORIES), n)
    is_fraud = np.zeros(n, dtype=bool)

    bursting = rng.choice(cards, max(1, int(cards * fraud_fraction)), replace=False)
    for c in bursting:
        rows = np.flatnonzero(card_idx == c)[:8]
        start = end_s - int(rng.integers(3_600, min(days, 3) * 86_400))  # within `days`
        event_s[rows] = start + np.arange(len(rows)) * int(rng.integers(30, 300))
        amount[rows] = np.round(typical[c] * rng.uniform(4.0, 10.0, len(rows)), 2)
        category[rows] = CATEGORIES.index("electronics")
        is_fraud[rows] = True

    order = np.lexsort((card_idx, event_s))
    return pa.table(
        [
            pa.array(np.arange(1, n + 1, dtype=np.int64)),
            pa.array(FIRST_CARD_ID + card_idx[order].astype(np.int64)),
            pa.array(event_s[order] * 1_000_000, type=pa.timestamp("us", tz="UTC")),
            pa.array(amount[order]),
            pa.array([CATEGORIES[i] for i in category[order]], type=pa.string()),
            pa.array(is_fraud[order]),
        ],
        schema=SCHEMA,
    )


def entity_rows(table: pa.Table, fraction: float = 0.1, seed: int = 0) -> pa.Table:
    """Transactions to score: (card_id, transaction_id, event_timestamp, amount), seeded.

    Each row is a transaction at its own time, so a training set joins the card's
    aggregates as of that moment and the transaction's label by ``transaction_id``.
    """
    rng = np.random.default_rng(seed + 1)
    n = max(1, int(table.num_rows * fraction))
    idx = np.sort(rng.choice(table.num_rows, n, replace=False))
    return table.take(pa.array(idx)).select(
        ["card_id", "transaction_id", "event_timestamp", "amount"]
    )


def parse_end(text: str) -> datetime:
    """``now`` (to the second) or an ISO 8601 date or time; a naive one is UTC."""
    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        end = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 'now' or an ISO 8601 date such as 2025-01-01"
        ) from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    """Write ``generate(...)`` to a Parquet file."""
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description="Write seeded card transactions to Parquet.")
    parser.add_argument("out", nargs="?", default="transactions.parquet", help="the file to write")
    parser.add_argument("--end", type=parse_end, default=END, help="'now' or an ISO date")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    table = generate(args.seed, args.cards, args.days, end=args.end)
    pq.write_table(table, args.out)
    print(f"wrote {table.num_rows} rows ending {args.end.isoformat()} to {args.out}")


if __name__ == "__main__":
    main()
