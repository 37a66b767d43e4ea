"""The prepared-corpus format, measured: captra's flat arrays (ids + offsets + lengths, common/data/ragged.py: lengths
memory-mapped, rows read with positional reads) against Apache Arrow (a pyarrow IPC file, memory-mapped: what HF
datasets and litdata store) holding the same ids.

For the source and target columns of one prepared split: the time to write the Arrow file from the prepared
arrays, both files' sizes, the time to open each and read the lengths that batches are bucketed by, the resident
memory that adds, the time to build padded (B, T) int64 batches of random rows (what a training step reads), and
the resident memory after those batches.
pyarrow is not a dependency of captra: `--arrow-lib DIR` is where the script installs it (pip --target) if it is
missing. Prints one JSON object.

    python benchmarks/ragged_vs_arrow.py --split PREPARED_SPLIT_FOLDER [--batches 2000] [--arrow-lib DIR]
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _setup import metadata
from captra.common.data.ragged import Ragged
from captra.common.text.vocab import PAD_ID

COLUMNS = ("src", "tgt")


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pad(sequences: list[np.ndarray]) -> np.ndarray:
    batch = np.full((len(sequences), max(1, max(map(len, sequences)))), PAD_ID, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = sequence
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True, help="a prepared split folder (with src.bin, tgt.bin, meta.json)")
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--arrow-lib", default=None, help="where pyarrow is installed if it is missing")
    args = parser.parse_args()
    if args.arrow_lib:
        sys.path.insert(0, args.arrow_lib)
    try:
        import pyarrow as pa
    except ImportError:
        target = args.arrow_lib or tempfile.mkdtemp(prefix="pyarrow-")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", target, "pyarrow"], check=True)
        sys.path.insert(0, target)
        importlib.invalidate_caches()  # the folder was looked into (empty) before pip filled it
        import pyarrow as pa

    split = Path(args.split)
    meta = json.loads((split / "meta.json").read_text())["columns"]
    result: dict = {"benchmark": "ragged_vs_arrow", "split": split.name, "pyarrow": pa.__version__, **metadata()}
    arrow_path = Path(tempfile.mkdtemp(prefix="ragged-vs-arrow-")) / "split.arrow"
    start = time.perf_counter()
    columns = {}
    for name in COLUMNS:
        flat = np.fromfile(split / f"{name}.bin", dtype=np.dtype(meta[name]["dtype"]))
        offsets = np.load(split / f"{name}.offsets.npy")
        columns[name] = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
    table = pa.table(columns)
    with pa.OSFile(str(arrow_path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)  # one record batch: `take` then works on one array, not across chunks
    del table, columns
    result["arrow_write_s"] = round(time.perf_counter() - start, 2)
    ragged_bytes = sum(path.stat().st_size for name in COLUMNS for path in split.glob(f"{name}.*")
                       if not path.name.endswith(".blank.npy"))
    result["size_mb"] = {"ragged": round(ragged_bytes / 1e6, 1), "arrow": round(arrow_path.stat().st_size / 1e6, 1)}
    rows = len(Ragged(split, meta["tgt"]))
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, rows, args.batch_size) for _ in range(args.batches)]

    before = resident_mb()
    start = time.perf_counter()
    ragged = {name: Ragged(split, meta[name]) for name in COLUMNS}
    lengths = ragged["tgt"].lengths + 0  # read (and copied) as the bucketing reads it
    result["ragged_open_s"] = round(time.perf_counter() - start, 4)
    result["ragged_open_rss_mb"] = round(resident_mb() - before, 1)
    start = time.perf_counter()
    for batch in batches:
        for name in COLUMNS:
            ragged[name].padded(batch)
    result["ragged_batch_ms"] = round(1000 * (time.perf_counter() - start) / args.batches, 3)
    result["ragged_rss_after_batches_mb"] = round(resident_mb() - before, 1)

    before = resident_mb()
    start = time.perf_counter()
    mapped = pa.ipc.open_file(pa.memory_map(str(arrow_path), "r")).read_all()
    arrow_lengths = np.concatenate([chunk.value_lengths().to_numpy() for chunk in mapped.column("tgt").chunks])
    result["arrow_open_s"] = round(time.perf_counter() - start, 4)
    result["arrow_open_rss_mb"] = round(resident_mb() - before, 1)
    assert np.array_equal(arrow_lengths, lengths)
    start = time.perf_counter()
    for batch in batches:
        for name in COLUMNS:
            taken = mapped.column(name).take(batch).combine_chunks()
            values, offsets = taken.values.to_numpy(), taken.offsets.to_numpy()
            pad([values[offsets[i] : offsets[i + 1]] for i in range(len(batch))])
    result["arrow_batch_ms"] = round(1000 * (time.perf_counter() - start) / args.batches, 3)
    result["arrow_rss_after_batches_mb"] = round(resident_mb() - before, 1)
    last = batches[-1]
    taken = mapped.column("tgt").take(last).combine_chunks()
    values, offsets = taken.values.to_numpy(), taken.offsets.to_numpy()
    assert np.array_equal(pad([values[offsets[i] : offsets[i + 1]] for i in range(len(last))]),
                          ragged["tgt"].padded(last).numpy())  # the same batch either way
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pyarrow"], check=True, env={"PYTHONPATH": ":".join(sys.path)})
    result["arrow_import_s"] = round(time.perf_counter() - start, 2)
    arrow_path.unlink()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
