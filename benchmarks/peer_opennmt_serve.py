"""OpenNMT-py 3.5.1's REST server under the load `serve_load.py` puts on `captra serve`, on this machine.

1. Installs OpenNMT-py 3.5.1 into its own virtual environment under --peer-dir (never into captra's; it brings
   its own torch, 2.2, which needs numpy < 2); reuses it when it is there.
2. Trains an attention RNN of the main job's size on Multi30k En->De (raw text split on whitespace, words seen at least
   twice; a bidirectional LSTM encoder, an LSTM decoder of 256 units with MLP (Bahdanau) attention, embeddings of
   128, Adam 1e-3, batches of 64 sentences) for --steps updates: the model only has to decode like a trained one
   (a model of that many steps trained by an earlier run is reused).
3. Serves it with `onmt_server` (Flask on waitress; beam 5, batches of 64) and sends it the requests `serve_load.py`
   sends captra (one sentence each, from C concurrent clients, C = --concurrency) and, for comparison, decodes the
   same sentences offline with `onmt_translate` in batches of 64 (the whole command's wall time).
Prints one JSON object (and writes it to --out).

    python benchmarks/peer_opennmt_serve.py [--steps 2000] [--sentences 300] [--concurrency 1 8 32]
        [--peer-dir ~/.cache/captra/peer_opennmt] [--out peer_opennmt_serve.json]
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from _setup import benchmark_parser, metadata
from captra.common.serve.process import free_port
from serve_load import load, read_sentences

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "multi30k"
VERSION = "OpenNMT-py==3.5.1"
# ... with the numpy its torch 2.2 was built against (it does not bound numpy, and numpy 2 cannot load that torch)
PEER_PACKAGES = [VERSION, "numpy<2"]


def run(command: list[str], log: Path) -> float:
    """Wall seconds of a command whose output goes to `log`; fails loudly with the log's tail."""
    started = time.perf_counter()
    with open(log, "w") as output:
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} ... failed ({result.returncode}); see {log}:\n"
                         + "".join(log.read_text().splitlines(keepends=True)[-15:]))
    return time.perf_counter() - started


def install(peer: Path) -> Path:
    """The peer's bin folder, installing OpenNMT-py into its own virtual environment the first time."""
    bin_dir = peer / "venv" / "bin"
    if not (bin_dir / "onmt_server").exists():
        peer.mkdir(parents=True, exist_ok=True)
        run(["python3", "-m", "venv", str(peer / "venv")], peer / "venv.log")
        run([str(bin_dir / "pip"), "install", "-q", *PEER_PACKAGES], peer / "install.log")
    return bin_dir


def train(bin_dir: Path, work: Path, steps: int) -> tuple[Path, float | None]:
    """(the trained checkpoint, training seconds; None: trained by an earlier run of this script, reused)."""
    if (work / f"model_step_{steps}.pt").exists():
        return work / f"model_step_{steps}.pt", None
    for split in ("train", "val"):
        for lang in ("en", "de"):
            with gzip.open(DATA / f"{split}.{lang}.gz", "rt", encoding="utf-8") as source:
                # one ASCII space between words: OpenNMT-py's vocabulary files break on other whitespace (U+00A0)
                lines = [" ".join(line.split()) for line in source]
            (work / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "save_data": str(work / "run"), "src_vocab": str(work / "vocab.en"), "tgt_vocab": str(work / "vocab.de"),
        "overwrite": True,
        "data": {"corpus_1": {"path_src": str(work / "train.en"), "path_tgt": str(work / "train.de")},
                 "valid": {"path_src": str(work / "val.en"), "path_tgt": str(work / "val.de")}},
        "src_words_min_frequency": 2, "tgt_words_min_frequency": 2,
        "save_model": str(work / "model"), "save_checkpoint_steps": steps, "train_steps": steps,
        "valid_steps": steps * 10, "report_every": 100, "batch_size": 64, "batch_type": "sents",
        "optim": "adam", "learning_rate": 0.001, "encoder_type": "brnn", "decoder_type": "rnn", "rnn_type": "LSTM",
        "layers": 1, "hidden_size": 256, "word_vec_size": 128, "global_attention": "mlp", "dropout": [0.2],
        "seed": 1234,
    }
    (work / "config.json").write_text(json.dumps(config, indent=2))  # YAML is a superset of JSON
    run([str(bin_dir / "onmt_build_vocab"), "-config", str(work / "config.json"), "-n_sample", "-1"], work / "vocab.log")
    seconds = run([str(bin_dir / "onmt_train"), "-config", str(work / "config.json")], work / "train.log")
    return work / f"model_step_{steps}.pt", seconds


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=2000, help="training updates (batches of 64 sentences)")
    parser.add_argument("--sentences", type=int, default=300, help="test_2016_flickr sentences per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--peer-dir", type=Path, default=Path.home() / ".cache" / "captra" / "peer_opennmt")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    bin_dir = install(args.peer_dir)
    work = args.peer_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    model, train_seconds = train(bin_dir, work, args.steps)
    sentences = read_sentences(DATA / "test_2016_flickr.en.gz", args.sentences)
    (work / "test.en").write_text("\n".join(" ".join(s.split()) for s in sentences) + "\n", encoding="utf-8")
    offline = run([str(bin_dir / "onmt_translate"), "-model", str(model), "-src", str(work / "test.en"), "-output",
                   str(work / "test.hyp.de"), "-beam_size", "5", "-batch_size", "64"], work / "translate.log")
    expected = (work / "test.hyp.de").read_text(encoding="utf-8").splitlines()
    server_config = {"models_root": str(work), "models": [{"id": 100, "model": model.name, "timeout": -1,
                                                            "on_timeout": "to_cpu", "load": True,
                                                            "opt": {"beam_size": 5, "batch_size": 64, "gpu": -1}}]}
    (work / "server.json").write_text(json.dumps(server_config))
    port = free_port()
    with open(work / "server.log", "w") as log:
        server = subprocess.Popen([str(bin_dir / "onmt_server"), "--model_config", str(work / "server.json"), "--ip",
                                   "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/translator/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"onmt_server exited with {server.returncode}; see {work / 'server.log'}")
                time.sleep(0.5)
        requests = [lambda session, s=" ".join(s.split()): session.post("/translator/translate", json=[{"src": s, "id": 100}])
                    for s in sentences]
        levels = [load(url, requests, expected, lambda answer: answer[0][0]["tgt"], clients)
                  for clients in args.concurrency]
    finally:
        server.terminate()
        server.wait(timeout=60)
    result = {"machine": metadata(), "peer": VERSION, "train_steps": args.steps, "train_seconds": None if train_seconds is None else round(train_seconds, 1),
              "offline_onmt_translate": {"inputs": len(sentences), "seconds_whole_command": round(offline, 3),
                                         "inputs_per_second": round(len(sentences) / offline, 2)},
              "served": levels}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
