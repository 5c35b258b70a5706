"""The command line: `python -m diffusion_core {info,sample,bench,download,train,train-classifier,train-latent,...}`.

Bad values exit with status 2 and one line naming the problem. The commands live in cli/; this file
assembles them and holds the two that only report: `info` and `download`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli import bench, figure, sample, train
from .cli.args import Parser
from .data import MNIST_URL, DataError, download_mnist
from .pretrained import (
    AUTOENCODER_MODEL,
    CLASSIFIER_MODEL,
    DIFFUSION_MODEL,
    LATENT_MODEL,
    PretrainedError,
    pick_device,
)


def build_parser() -> Parser:
    parser = Parser(prog="python -m diffusion_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("info", help="device, versions and the model cards").set_defaults(handler=cmd_info)
    sample.add_parsers(sub)
    bench.add_parsers(sub)
    download = sub.add_parser("download", help="fetch MNIST (needs the internet; nothing else downloads)")
    download.add_argument("--data-dir", type=Path, required=True, help="where to put the four IDX files")
    download.add_argument("--url", default=MNIST_URL, help=f"where the files are (default {MNIST_URL})")
    download.set_defaults(handler=cmd_download)
    train.add_parsers(sub)
    figure.add_parsers(sub)
    return parser


def cmd_info(args) -> int:
    from .pretrained import environment_summary, read_card

    print(f"device (auto): {pick_device('auto')}")
    for key, value in environment_summary().items():
        print(f"{key}: {value}")
    for name in (DIFFUSION_MODEL, CLASSIFIER_MODEL, AUTOENCODER_MODEL, LATENT_MODEL):
        try:
            card = read_card(name)
        except PretrainedError as exc:
            print(f"{name}: {exc}")
            continue
        headline = {k: card[k] for k in ("kind", "parameters", "schedule", "test_accuracy", "scale_factor", "quality")
                    if k in card}
        print(f"{name}: {json.dumps(headline)}")
    return 0


def cmd_download(args) -> int:
    directory = download_mnist(args.data_dir, args.url)
    print(f"MNIST is in {directory}: pass --data-dir {directory} or set MNIST_DIR={directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, DataError, PretrainedError) as exc:
        print(f"python -m diffusion_core {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
