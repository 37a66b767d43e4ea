"""Prepared data in a cache folder: keyed by everything it depends on, built once, atomically, under a lock.

A prepared folder is built in `.NAME.partial-HOST-PID` beside its final place and renamed into place once
complete (a rename is atomic): a run killed while preparing leaves only a partial folder, which is never read
and which the next run on that host removes before preparing again. A lock file (`NAME.lock`) makes processes
that need the same folder at once (DDP ranks started by torchrun or SLURM, two jobs, nodes sharing a
filesystem) wait for the first one instead of repeating its work; where a filesystem has no locks, each
prepares and the first rename wins, so every process still ends with the same complete folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

from captra.common.text.files import DataError

log = logging.getLogger(__name__)

META = "meta.json"  # written last, inside the partial folder, before the rename


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/captra, by default ~/.cache/captra."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "captra"


SAMPLED_BLOCK = 1 << 20


def fingerprint(path: Path) -> dict[str, Any]:
    """What a prepared folder depends on of an input file: its absolute path, size, modification time and a digest
    of its first, middle and last MiB (an edit that keeps the size within the filesystem's timestamp granularity
    still shows; hashing whole corpora of gigabytes at every start would not pay)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, stat.st_size // 2 - SAMPLED_BLOCK // 2), max(0, stat.st_size - SAMPLED_BLOCK)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLED_BLOCK))
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sampled_sha256": digest.hexdigest()[:16]}


def data_key(parts: Any) -> str:
    """A short hex digest of plain data (inputs' fingerprints, options, versions)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class Preparation:
    """What a build function writes into (`folder`) and reports its progress through (`fraction` of the input
    read, 0..1: a full disk's error estimates the space needed from it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fraction = 0.0


def partial_path(final: Path, host: str | None = None, pid: int | None = None) -> Path:
    """Where `final` (a folder or a file) is written before it is renamed into place, by process `pid` of `host`
    (default: this process)."""
    return final.parent / f".{final.name}.partial-{host or socket.gethostname()}-{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_dead_partials(final: Path) -> list[Path]:
    """Partial folders or files of `final` left by processes of this host that are gone (killed while preparing),
    and this process's own (a failed earlier attempt); removed."""
    prefix, host = f".{final.name}.partial-", socket.gethostname()
    removed = []
    for partial in final.parent.glob(f"{prefix}*"):
        owner, _, pid = partial.name[len(prefix):].rpartition("-")
        if owner == host and pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _megabytes(count: float) -> str:
    return f"{count / 1e6:,.0f} MB"


WAIT_NOTICE_S = 300.0  # how often a process waiting for another's preparation says it still waits


def _acquire(lock: FileLock, what: str, folder: Path) -> bool:
    """Take the preparation lock, waiting (and saying so every few minutes) while another process holds it.
    False where the filesystem has no working locks: then this process prepares unlocked, and a race with
    another one is settled when the finished folder is renamed into place (the first rename wins)."""
    try:
        lock.acquire(timeout=0)
        return True
    except Timeout:
        pass
    except (NotImplementedError, OSError) as error:
        log.warning("%s: file locks do not work here (%s): preparing %s without one", lock.lock_file, error, what)
        return False
    print(f"captra: waiting for another process preparing {what} ({folder})", file=sys.stderr)
    waited = 0.0
    while True:
        try:
            lock.acquire(timeout=WAIT_NOTICE_S)
            return True
        except Timeout:
            waited += WAIT_NOTICE_S
            print(f"captra: still waiting for {lock.lock_file} after {waited / 60:.0f} min; if no process is preparing "
                  f"{what} (one killed on a filesystem without locks leaves its lock file behind), delete that file",
                  file=sys.stderr)


def prepared(folder: Path, build: Callable[[Preparation], dict[str, Any]], what: str) -> dict[str, Any]:
    """The metadata of the complete prepared folder `folder`, built first by `build` if it is not there.

    `build` writes its files into `preparation.folder` and returns the metadata (plain data), which is saved as
    meta.json. A full disk raises a DataError naming the cache folder, what was written and an estimate of the
    space needed, and leaves nothing partial behind; so does any other failure.
    """
    meta_path = folder / META
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder.parent / f"{folder.name}.lock")
    locked = _acquire(lock, what, folder)
    try:
        if meta_path.is_file():  # prepared by the process we waited for
            return json.loads(meta_path.read_text())
        if folder.exists():
            raise DataError(f"{folder}: not a prepared folder captra wrote (it has no {META}); delete it to prepare "
                            f"{what} again")
        for partial in remove_dead_partials(folder):
            log.warning("removed %s: an incomplete preparation (its process was killed)", partial)
        preparation = Preparation(partial_path(folder))
        preparation.folder.mkdir()
        try:
            meta = build(preparation)
            (preparation.folder / META).write_text(json.dumps(meta, indent=1))
            try:
                os.rename(preparation.folder, folder)
            except OSError as error:  # another process (on a filesystem without locks) finished first: use its folder
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not meta_path.is_file():
                    raise
                shutil.rmtree(preparation.folder, ignore_errors=True)
            return json.loads(meta_path.read_text())
        except OSError as error:
            written = _size(preparation.folder) if preparation.folder.is_dir() else 0
            shutil.rmtree(preparation.folder, ignore_errors=True)
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            free = shutil.disk_usage(folder.parent).free
            needed = (f"about {_megabytes(written / preparation.fraction)} needed in all"
                      if preparation.fraction > 0.01 else "the space needed is not known yet")
            raise DataError(
                f"{folder.parent}: no space left on device while preparing {what}: {_megabytes(written)} written when "
                f"{preparation.fraction:.0%} of the input was read, {needed}, {_megabytes(free)} free; the partial "
                f"files are removed. Free some space or set data.cache_dir to a folder on a larger disk"
            ) from error
        except BaseException:
            shutil.rmtree(preparation.folder, ignore_errors=True)
            raise
    finally:
        if locked:
            lock.release()
