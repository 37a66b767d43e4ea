"""`captra serve` under load: throughput, latency and batch sizes at several concurrencies, against offline decoding.

For a translation checkpoint (sentences of a text file) and, optionally, a captioning one (image files), measures:
  - in process: the one-input decode time (each input decoded alone; median) and the offline batched throughput
    (`captra translate`'s / `captra caption`'s own batched decoding);
  - over HTTP on loopback (`captra serve` in its own process, its default batching unless told): for every
    concurrency C, C clients each sending one input per request until every input is answered: inputs per second,
    latency p50 / p95 / p99, the mean batch size the server decoded (from /metrics), errors, and outputs that
    differ from offline decoding;
  - with --soak-seconds S: C = 8 clients for S seconds, the server's resident memory sampled every 5 s.
Clients and server share the machine's cores. Prints one JSON object (and writes it to --out).

    python benchmarks/serve_load.py --ckpt TRANSLATION.ckpt [--caption-ckpt CAPTION.ckpt] [--concurrency 1 8 32]
        [--sentences 300] [--beam B] [--images 100] [--soak-seconds 600] [--out serve_load.json]
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import torch

from _setup import benchmark_parser, metadata
from captra.captioning.caption import caption_batches
from captra.captioning.images import image_transform, load_image
from captra.common.checkpoints.loading import load_module
from captra.common.cli.inference import decoding_config
from captra.common.serve.process import serving
from captra.translation.translate import decode_sources, translate_scored

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CPU = torch.device("cpu")


def read_sentences(path: Path, count: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for _, line in zip(range(count), handle)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def per_input_seconds(decode_one: Callable[[int], Any], count: int) -> float:
    """Median seconds to decode one input alone (the first, warming up, not counted)."""
    decode_one(0)
    times = []
    for index in range(count):
        started = time.perf_counter()
        decode_one(index)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def batch_totals(url: str, model: str) -> tuple[float, float]:
    """(inputs decoded, batches) the server has counted for `model`."""
    text = httpx.get(f"{url}/metrics").text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("captra_batch_size_")}
    return values.get(f'captra_batch_size_sum{{model="{model}"}}', 0.0), values.get(f'captra_batch_size_count{{model="{model}"}}', 0.0)


def load(url: str, requests: list[Callable[[httpx.Client], httpx.Response]], expected: list[str] | None,
         read: Callable[[Any], str], clients: int, model: str | None = None) -> dict[str, Any]:
    """`clients` clients sending `requests` (client i: requests i, i + clients, ...); their statistics. `expected`:
    the offline outputs to compare with (None: not compared); `model`: a captra model whose batch sizes to read
    from /metrics (None: another server)."""
    latencies, errors, differ = [], [], 0
    lock = threading.Lock()

    def client(number: int) -> None:
        nonlocal differ
        with httpx.Client(base_url=url, timeout=300) as session:
            for index in range(number, len(requests), clients):
                started = time.perf_counter()
                response = requests[index](session)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    latencies.append(elapsed)
                    differ += expected is not None and read(response.json()) != expected[index]

    inputs_before, batches_before = batch_totals(url, model) if model else (0.0, 0.0)
    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    inputs_after, batches_after = batch_totals(url, model) if model else (0.0, 0.0)
    measured: dict[str, Any] = {
        "clients": clients, "requests": len(requests), "seconds": round(wall, 3),
        "inputs_per_second": round(len(latencies) / wall, 2),
        "latency_ms": {name: round(1000 * percentile(latencies, share), 1) for name, share in
                       (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} if latencies else None,
        "errors": len(errors), "first_errors": errors[:3]}
    if model:
        measured["mean_batch_size"] = round((inputs_after - inputs_before) / max(1.0, batches_after - batches_before), 2)
    if expected is not None:
        measured["outputs_differing_from_offline"] = differ
    return measured


def soak(url: str, pid: int, requests: list[Callable[[httpx.Client], httpx.Response]], seconds: float,
         clients: int = 8) -> dict[str, Any]:
    """`clients` clients cycling through `requests` for `seconds`; the server's resident memory every 5 s."""
    stop, errors, answered = threading.Event(), [0], [0]

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as session:
            index = number
            while not stop.is_set():
                ok = requests[index % len(requests)](session).status_code == 200
                answered[0] += ok
                errors[0] += not ok
                index += clients

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    samples, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        samples.append((round(time.perf_counter() - started, 1), round(resident_mib(pid), 1)))
        time.sleep(5)
    stop.set()
    for thread in threads:
        thread.join()
    warm = [mib for at, mib in samples if at >= 30] or [mib for _, mib in samples]  # after 30 s of warm-up
    return {"clients": clients, "seconds": seconds, "answered": answered[0], "errors": errors[0],
            "rss_mib_after_warmup": warm[0], "rss_mib_end": warm[-1], "rss_mib_max": max(warm),
            "rss_growth_percent": round(100 * (warm[-1] - warm[0]) / warm[0], 2), "samples": samples}


def translation_side(path: str, sentences: list[str], batch_size: int, beam: int | None) -> dict[str, Any]:
    module = load_module(path)
    config = decoding_config(module.search_config, beam)
    options = {} if beam is None else {"beam": beam}
    encoded = [module.texts["src"].encode(sentence) for sentence in sentences]
    started = time.perf_counter()
    offline = translate_scored(module, encoded, config, batch_size, CPU)
    seconds = time.perf_counter() - started
    one = per_input_seconds(lambda i: decode_sources(module, [encoded[i]], config, CPU), min(100, len(encoded)))
    return {"expected": [nbest[0][0] for nbest in offline],
            "requests": [lambda session, s=s: session.post("/v1/translate?model=translation", json={"text": [s], **options})
                         for s in sentences],
            "read": lambda answer: answer["results"][0]["outputs"][0]["text"],
            "offline": {"inputs": len(sentences), "batch_size": batch_size, "seconds": round(seconds, 3),
                        "inputs_per_second": round(len(sentences) / seconds, 2), "beam": config.beam_size},
            "one_input_ms": round(1000 * one, 2)}


def caption_side(path: str, images: list[Path], batch_size: int) -> dict[str, Any]:
    module = load_module(path)
    config = decoding_config(module.search_config, None)
    transform = image_transform(module.encoder.spec)
    started = time.perf_counter()  # as `captra caption` does: read, transform and decode in batches
    best = []
    for start in range(0, len(images), batch_size):
        inputs = [transform(load_image(image)) for image in images[start : start + batch_size]]
        best += caption_batches(module, inputs, config, batch_size, CPU)
    seconds = time.perf_counter() - started
    one = per_input_seconds(lambda i: caption_batches(module, [transform(load_image(images[i]))], config, 1, CPU),
                            min(50, len(images)))
    files = [image.read_bytes() for image in images]
    return {"expected": [module.to_text(hypothesis) for hypothesis in best],
            "requests": [lambda session, data=data, name=image.name: session.post(
                "/v1/caption?model=captioning", files=[("images", (name, data, "image/jpeg"))])
                for data, image in zip(files, images)],
            "read": lambda answer: answer["results"][0]["outputs"][0]["text"],
            "offline": {"inputs": len(images), "batch_size": batch_size, "seconds": round(seconds, 3),
                        "inputs_per_second": round(len(images) / seconds, 2), "beam": config.beam_size},
            "one_input_ms": round(1000 * one, 2)}


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True)
    parser.add_argument("--caption-ckpt", default=None, help="a captioning checkpoint to measure as well")
    parser.add_argument("--text", type=Path, default=DATA / "multi30k" / "test_2016_flickr.en.gz",
                        help="source sentences, one per line (.gz read as gzip)")
    parser.add_argument("--sentences", type=int, default=300, help="sentences per concurrency level")
    parser.add_argument("--beam", type=int, default=None, help="translation beam size (default: the checkpoint's)")
    parser.add_argument("--image-list", type=Path, default=DATA / "flickr8k" / "Flickr_8k.testImages.txt")
    parser.add_argument("--image-dir", type=Path, default=DATA / "flickr8k" / "images")
    parser.add_argument("--images", type=int, default=100, help="images per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--soak-seconds", type=float, default=0, help="translation soak at 8 clients (0: none)")
    parser.add_argument("--server-args", default="", help="more `captra serve` arguments, e.g. '--max-batch 64'")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    sides = {"translation": translation_side(args.ckpt, read_sentences(args.text, args.sentences), 64, args.beam)}
    models = [f"translation={args.ckpt}"]
    if args.caption_ckpt:
        names = args.image_list.read_text().split()[: args.images]
        sides["captioning"] = caption_side(args.caption_ckpt, [args.image_dir / name for name in names], 32)
        models.append(f"captioning={args.caption_ckpt}")
    model_args = [arg for model in models for arg in ("--model", model)]
    with serving(*model_args, *args.server_args.split()) as server:
        result = measure(args, sides, server.url, server.process.pid)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def measure(args: Any, sides: dict[str, dict[str, Any]], url: str, pid: int) -> dict[str, Any]:
    """Every measurement over HTTP of the server at `url`."""
    result: dict[str, Any] = {"machine": metadata(), "checkpoint": args.ckpt, "caption_checkpoint": args.caption_ckpt,
                              "server_args": args.server_args, "server_rss_mib_at_start": round(resident_mib(pid), 1)}
    for name, side in sides.items():
        levels = [load(url, side["requests"], side["expected"], side["read"], clients, model=name)
                  for clients in args.concurrency]
        offline = side["offline"]["inputs_per_second"]
        for level in levels:
            level["throughput_vs_offline"] = round(level["inputs_per_second"] / offline, 3)
        result[name] = {"offline_batched": side["offline"], "one_input_in_process_ms": side["one_input_ms"],
                        "served": levels}
        if levels[0]["latency_ms"] is not None and levels[0]["clients"] == 1:
            result[name]["p50_one_client_vs_one_input"] = round(levels[0]["latency_ms"]["p50"] / side["one_input_ms"], 3)
    if args.soak_seconds > 0:
        result["soak"] = soak(url, pid, sides["translation"]["requests"], args.soak_seconds)
    return result


if __name__ == "__main__":
    main()
