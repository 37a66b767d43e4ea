"""Reading text files (plain or .gz) line by line, with errors that name the file and line."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO, Iterator


class DataError(ValueError):
    """Input data that cannot be used as it is; the message names the file and the problem."""


class LineReader:
    """The lines of a UTF-8 text file (gzip if it ends in .gz), streamed without line endings, and how far the
    reading has got in the file on disk (`position`, in bytes of the file as stored: compressed for .gz)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        self.path = path
        self.size = path.stat().st_size
        self._raw: BinaryIO = open(path, "rb")
        self._handle: BinaryIO = gzip.GzipFile(fileobj=self._raw) if path.suffix == ".gz" else self._raw

    @property
    def position(self) -> int:
        return self.size if self._raw.closed else self._raw.tell()

    def __iter__(self) -> Iterator[str]:
        number = 0
        try:
            for physical in self._handle:
                # bytes.splitlines splits on \r as well as \n, as reading the whole file and splitting it did
                for raw in physical.splitlines():
                    number += 1
                    try:
                        yield raw.decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise DataError(f"{self.path}:{number}: not UTF-8 text ({error.reason} at byte {error.start})") from error
        except (OSError, EOFError) as error:
            raise DataError(f"{self.path}: cannot be read ({error})") from error
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()
        self._raw.close()


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file (gzip if it ends in .gz), without line endings."""
    return list(LineReader(path))
