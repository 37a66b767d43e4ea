"""`captra serve` in a child process on a free loopback port, for notebooks, benchmarks and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    """A running `captra serve`: its base URL, its process, and the file its stderr goes to."""

    url: str
    process: subprocess.Popen
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(*args: str, timeout: float = 300.0) -> Iterator[ServerProcess]:
    """`captra serve ARGS --port P` started and waited for (its /health answers); terminated (SIGTERM: it drains)
    when the block ends, unless it has already exited. Its stderr goes to a temporary file (a pipe nobody reads
    would fill and stall it)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="captra-serve-") as folder:
        log = Path(folder) / "stderr.txt"
        port = free_port()
        with log.open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "captra", "serve", *args, "--port", str(port)],
                                       stdout=subprocess.DEVNULL, stderr=stderr, env=environment)
        server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_until_healthy(server, timeout)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)


def wait_until_healthy(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"captra serve exited with status {server.process.returncode}: {server.stderr()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"captra serve did not answer {server.url}/health within {timeout:.0f} s") from None
            time.sleep(0.3)
