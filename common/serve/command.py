"""`captra serve`: checkpoints behind the JSON API and the web page (uvicorn), with safe defaults.

    captra serve --ckpt CKPT [--ckpt CKPT2 ...]          one model (several --ckpt: their ensemble)
    captra serve --model en-de=A.ckpt --model captions=B.ckpt+C.ckpt     several, by name (`?model=NAME`)

Binds 127.0.0.1 unless told otherwise; with `--api-key` (or CAPTRA_API_KEY) every API route needs the header
`Authorization: Bearer KEY`, and a non-loopback address is refused without a key unless `--insecure`. SIGTERM (or
Ctrl-C) stops accepting connections, finishes the requests in flight, then exits.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from captra.common.cli.inference import add_device_arguments, resolve_device
from captra.common.serve.limits import Batching, Limits

HELP = "serve checkpoints over HTTP: a JSON API (/v1/..., documented at /docs) and a web page at /"
API_KEY_VARIABLE = "CAPTRA_API_KEY"
LIMIT_HELP = {
    "max_body_bytes": "largest request body", "max_inputs": "texts or images per request",
    "max_text_chars": "characters of one text", "max_image_pixels": "pixels (width x height) of one image",
    "max_beam": "largest beam size and n-best a request may ask for",
    "max_queue": "inputs waiting over all clients; beyond it requests get 503 with Retry-After",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", action="append", default=[],
                        help="a checkpoint to serve; repeat it to serve the ensemble of several (one task)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CKPT[+CKPT...]",
                        help="a named model (an ensemble with +); repeat it to serve several, of one task or several")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=None,
                        help=f"require 'Authorization: Bearer KEY' on every API route (default: ${API_KEY_VARIABLE})")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback --host without an API key")
    parser.add_argument("--max-batch", type=int, default=Batching.max_batch, help="inputs decoded together")
    parser.add_argument("--max-wait-ms", type=float, default=Batching.max_wait_ms,
                        help="how long the first waiting input waits for others to join its batch")
    for name, text in LIMIT_HELP.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(Limits, name),
                            help=f"{text} (default: %(default)s)")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="on SIGTERM, how long the requests in flight may take to finish")
    add_device_arguments(parser)


def named_checkpoints(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, checkpoints) of every model to serve; `--ckpt` ones are named "default"."""
    models = [("default", list(args.ckpt))] if args.ckpt else []
    for spec in args.model:
        name, _, paths = spec.partition("=")
        if not name or not paths:
            raise ValueError(f"--model {spec!r}: expected NAME=CKPT or NAME=CKPT+CKPT2")
        models.append((name, paths.split("+")))
    if not models:
        raise ValueError("nothing to serve: give --ckpt CKPT or --model NAME=CKPT")
    return models


def check_binding(host: str, api_key: str | None, insecure: bool) -> None:
    """Refuse to listen beyond this machine without an API key, unless told to."""
    if api_key or insecure or is_loopback(host):
        return
    raise ValueError(f"--host {host} accepts connections from other machines: set --api-key (or ${API_KEY_VARIABLE}), "
                     "or pass --insecure to serve without one")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn  # the server's stack loads only for `captra serve`

    from captra.common.serve.app import create_app
    from captra.common.serve.models import load_served

    api_key = args.api_key or os.environ.get(API_KEY_VARIABLE) or None
    check_binding(args.host, api_key, args.insecure)
    limits = Limits(**{name: getattr(args, name) for name in LIMIT_HELP})
    batching = Batching(args.max_batch, args.max_wait_ms)
    device = resolve_device(args.device)
    models = [load_served(name, paths, device, args.int8) for name, paths in named_checkpoints(args)]
    loopback = ["localhost", "127.0.0.1", "::1", "[::1]"] if is_loopback(args.host) else None
    app = create_app(models, limits, batching, api_key, allowed_hosts=loopback)
    for model in models:
        print(f"captra serve: {model.name}: {model.task.name} ({', '.join(model.card['checkpoints'])}) on "
              f"POST {model.card['route']}", file=sys.stderr)
    print(f"captra serve: page http://{args.host}:{args.port}/  API documentation http://{args.host}:{args.port}/docs"
          f"{'  (API key required)' if api_key else ''}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, timeout_graceful_shutdown=args.drain_seconds, log_level="warning")
    return 0
