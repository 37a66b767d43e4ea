"""`captra sample --ckpt CKPT --prompt "ROMEO:" --temperature 0.8 --length 500 [--seed S]`: the prompt followed by
its continuation (char-rnn's sampler); `--strategy greedy` or `--beam K` for the most likely continuation."""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.inference import add_device_arguments, place, resolve_device
from captra.language_model.sampling import continue_prompt

HELP = "continue a prompt with a language-model checkpoint (sampled with a temperature, greedy or beam search)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="a language-model checkpoint")
    parser.add_argument("--prompt", default="\n", help="text the output starts with (default: a line break)")
    parser.add_argument("--length", type=int, default=500, help="tokens written after the prompt (default: 500)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="divides the log-probabilities before sampling: below 1 safer, above 1 more varied "
                             "(default: the checkpoint's search.temperature)")
    parser.add_argument("--strategy", choices=("sample", "greedy", "beam"), default="sample",
                        help="sample (default), greedy (the most likely token each step) or beam search")
    parser.add_argument("--beam", type=int, default=5, help="beam size of --strategy beam (default: 5)")
    parser.add_argument("--samples", type=int, default=1, help="texts written, one after the other (default: 1)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the sampling (default: unseeded)")
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.temperature is not None and args.temperature <= 0:
        raise ValueError(f"--temperature {args.temperature}: must be above 0 (--strategy greedy for the most likely)")
    device = resolve_device(args.device)
    module = place(load_module(args.ckpt, task="language_model"), device, args.int8)
    config = replace(module.search_config, strategy=args.strategy, beam_size=args.beam if args.strategy == "beam" else 1,
                     temperature=module.search_config.temperature if args.temperature is None else args.temperature)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    texts = continue_prompt(module, args.prompt, args.length, config, args.samples, device)
    print("\n\n".join(texts))
    return 0
