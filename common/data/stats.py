"""What `captra prepare` prints about a prepared split: sizes, tokens, lengths, <unk> rates, vocabulary use."""

from __future__ import annotations

from typing import Any

import numpy as np

from captra.common.text.vocab import SPECIALS

PERCENTILES = (50, 90, 99)


def length_summary(lengths: np.ndarray) -> str:
    """"p50 12, p90 20, p99 29, max 41" of a lengths array."""
    if len(lengths) == 0:
        return "no rows"
    values = np.percentile(lengths, PERCENTILES, method="nearest")
    return ", ".join(f"p{p} {int(v)}" for p, v in zip(PERCENTILES, values)) + f", max {int(lengths.max())}"


def column_summary(label: str, meta: dict[str, Any], lengths: np.ndarray) -> str:
    """One line about an encoded column (its `encode_columns` metadata) and the lengths of the rows kept."""
    tokens, unk = meta["tokens"], meta["unk"]
    seen, size = meta["types_seen"], meta["vocabulary"]
    return (f"  {label}: {tokens:,} tokens, <unk> {100.0 * unk / max(tokens, 1):.2f} % of them; lengths {length_summary(lengths)}; "
            f"vocabulary {size:,} entries, {seen:,} seen ({100.0 * seen / max(size - len(SPECIALS), 1):.1f} % of the non-special)")
