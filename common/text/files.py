"""Reading text files (plain or .gz) line by line, with errors that name the file and line."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator


class DataError(ValueError):
    """Input data that cannot be used as it is; the message names the file and the problem."""


class LineReader:
    """The lines of a UTF-8 text file (gzip if it ends in .gz), streamed without line endings, and how far the
    reading has got in the file on disk (`position`, in bytes of the file as stored: compressed for .gz). The file
    is open only while it is iterated."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        self.path = path
        self.size = path.stat().st_size
        self._raw: BinaryIO | None = None
        self._done = False

    @property
    def position(self) -> int:
        """Bytes of the stored file read so far (all of them once the iteration has ended)."""
        if self._done:
            return self.size
        return 0 if self._raw is None or self._raw.closed else self._raw.tell()

    def __iter__(self) -> Iterator[str]:
        number = 0
        with open(self.path, "rb") as raw:
            self._raw = raw
            handle: BinaryIO = gzip.GzipFile(fileobj=raw) if self.path.suffix == ".gz" else raw
            try:
                for physical in handle:
                    # bytes.splitlines splits on \r as well as \n, as reading the whole file and splitting it did
                    for line in physical.splitlines():
                        number += 1
                        try:
                            yield line.decode("utf-8")
                        except UnicodeDecodeError as error:
                            raise DataError(f"{self.path}:{number}: not UTF-8 text ({error.reason} at byte {error.start})") from error
            except (OSError, EOFError, zlib.error) as error:
                raise DataError(f"{self.path}: cannot be read after line {number} ({error})") from error
            finally:
                handle.close()
                self._done = True


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file (gzip if it ends in .gz), without line endings."""
    return list(LineReader(path))
