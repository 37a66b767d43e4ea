"""Reading text files (plain or .gz) line by line, with errors that name the file and line."""

from __future__ import annotations

import gzip
from pathlib import Path


class DataError(ValueError):
    """Input data that cannot be used as it is; the message names the file and the problem."""


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file (gzip if it ends in .gz), without line endings."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw_lines = handle.read().splitlines()
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot be read ({error})") from error
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise DataError(f"{path}:{number}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    return lines
