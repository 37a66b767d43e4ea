"""Captions that end on a function word ("a dog runs in the"), which self-critical training is known to cause.

The word list is self-critical.pytorch's (`bad_endings`); the remedy, forbidding `</s>` right after such a word in
every search, is `search.bad_endings` (configs/captioning/flickr8k_scst.yaml).
"""

from __future__ import annotations

from typing import Sequence

BAD_ENDINGS = ("a", "an", "the", "in", "for", "at", "of", "with", "before", "after", "on", "upon", "near", "to",
               "is", "are", "am")


def bad_ending_rate(captions: Sequence[str], words: Sequence[str] = BAD_ENDINGS) -> float:
    """Share (0-100) of the non-empty captions whose last word is one of `words`."""
    endings = [caption.split()[-1] for caption in captions if caption.split()]
    return 100.0 * sum(ending in set(words) for ending in endings) / max(1, len(endings))
