"""NetTalk's window classifier as a grapheme-to-phoneme baseline, on the split and metrics of a g2p run.

The letter-phoneme alignments NetTalk needs are derived from the given g2p checkpoint's attention (g2p/nettalk.py);
the classifier is trained on the run's training words and scored (WER, PER) on its validation and test words
exactly as the attention model is. Prints JSON.

    python benchmarks/nettalk_baseline.py --ckpt runs/g2p/version_0/checkpoints/best-....ckpt
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from _setup import benchmark_parser, metadata
from captra.common.checkpoints.loading import load_module
from captra.common.report.split import run_data_module
from captra.common.task import get_task
from captra.g2p.metrics import error_rates
from captra.g2p.nettalk import (SILENT, WindowClassifier, align_words, class_vocabulary, pronounce_words,
                                train_classifier, windows)


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, batch_size=256)
    parser.add_argument("--width", type=int, default=7, help="letters in a window, the middle one classified (odd)")
    parser.add_argument("--hidden", type=int, default=80, help="sigmoid hidden units (NetTalk: 80)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training windows")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initial weights and the window order")
    args = parser.parse_args()
    if args.width % 2 != 1:
        parser.error("--width must be odd (a middle letter)")
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    started = time.perf_counter()
    module = load_module(args.ckpt)
    data = run_data_module(get_task("g2p"), Path(args.ckpt), None)
    letters = module.texts["src"]

    train_pairs = [(word, p) for word in data.words("train") for p in data.lexicon[word]]
    classes = align_words(module, [w for w, _ in train_pairs], [p for _, p in train_pairs], device=device)
    vocabulary = class_vocabulary(classes)
    class_ids = {label: index for index, label in enumerate(vocabulary)}
    train = windows([letters.encode(w) for w, _ in train_pairs], classes, class_ids, args.width)
    aligned_s = time.perf_counter() - started

    model = WindowClassifier(len(letters.vocab), args.width, args.hidden, len(vocabulary))
    losses = train_classifier(model, train, args.epochs, args.batch_size, args.lr, args.seed)
    scores = {}
    model.eval()
    for split in ("val", "test"):
        words = data.words(split)
        outputs = pronounce_words(model, [letters.encode(w) for w in words], vocabulary, args.width)
        scores[split] = error_rates(outputs, [[" ".join(p) for p in data.lexicon[w]] for w in words])
    labels = [label for word in classes for label in word]
    print(json.dumps({
        "benchmark": "nettalk_baseline", "aligner": args.ckpt, "stress": data.stress,
        "window": args.width, "hidden": args.hidden, "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_pairs": len(train_pairs), "training_letters": len(labels), "classes": len(vocabulary),
        "silent_letters_percent": round(100 * labels.count(SILENT) / len(labels), 2),
        "multi_phoneme_letters_percent": round(100 * sum("+" in label for label in labels) / len(labels), 2),
        "epoch_losses": [round(loss, 4) for loss in losses], "scores": scores,
        "alignment_s": round(aligned_s, 1), "seconds": round(time.perf_counter() - started, 1), **metadata(),
    }, indent=1))


if __name__ == "__main__":
    main()
