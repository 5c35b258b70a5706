"""`train`, `train-classifier`, `train-autoencoder`, `train-latent`: the shipped networks from MNIST,
with checkpoints to resume from and a model card beside the weights."""
from __future__ import annotations

from pathlib import Path

import torch

from ..autoencoder import AutoencoderConfig
from ..data import load_mnist
from ..pretrained import (
    AUTOENCODER_MODEL,
    CLASSIFIER_MODEL,
    DEVICE_CHOICES,
    DIFFUSION_MODEL,
    LATENT_MODEL,
    pick_device,
)
from ..train import TrainConfig
from ..unet import UNetConfig
from .args import DATA_DIR_HELP, finite_float, int_at_least

LATENT_SIDES = {7: (1, 2, 2), 14: (1, 2)}  # the autoencoder's latent grid side -> its channel_mults
COMMANDS = (("train", DIFFUSION_MODEL, 6), ("train-classifier", CLASSIFIER_MODEL, 3),
            ("train-autoencoder", AUTOENCODER_MODEL, 10), ("train-latent", LATENT_MODEL, 30))  # (name, out, epochs)


def add_parsers(sub) -> None:
    for name, default_out, epochs in COMMANDS:
        train = sub.add_parser(name, help=f"train {default_out} from MNIST")
        train.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
        train.add_argument("--epochs", type=int_at_least(1), default=epochs)
        train.add_argument("--batch-size", type=int_at_least(1), default=64 if name == "train" else 128)
        train.add_argument("--seed", type=int_at_least(0), default=0)
        train.add_argument("--limit", type=int_at_least(1), default=None, help="train on the first N digits only")
        train.add_argument("--out", type=Path, default=Path("pretrained") / default_out,
                           help="path prefix of the weights and card")
        train.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
        train.add_argument("--threads", type=int_at_least(1), default=None, help="torch CPU threads")
        train.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        if name == "train":
            train.add_argument("--base-channels", type=int_at_least(8), default=UNetConfig.base_channels,
                               help="U-Net width at 28x28, a multiple of 8 (the GroupNorm groups)")
            train.add_argument("--init-from", type=Path, default=None,
                               help="fine-tune: start from these weights (path prefix), with a fresh optimiser")
            train.add_argument("--label-dropout", type=finite_float, default=TrainConfig.label_dropout,
                               help="share of examples trained without their label (classifier-free guidance)")
        if name == "train-latent":
            train.add_argument("--base-channels", type=int_at_least(8), default=64,
                               help="latent U-Net width at 7x7, a multiple of 8 (the GroupNorm groups)")
            train.add_argument("--autoencoder", type=Path, default=Path("pretrained") / AUTOENCODER_MODEL,
                               help="the first stage whose latents it learns (path prefix of weights and card)")
            train.add_argument("--init-from", type=Path, default=None,
                               help="fine-tune: start from these latent weights (path prefix), with a fresh optimiser")
            train.add_argument("--label-dropout", type=finite_float, default=0.3,
                               help="share of examples trained without their label (classifier-free guidance; "
                                    "the unconditional path is the one measured hardest)")
        if name == "train-autoencoder":
            train.add_argument("--latent-channels", type=int_at_least(1), default=AutoencoderConfig.latent_channels)
            train.add_argument("--latent-side", type=int, choices=tuple(LATENT_SIDES), default=7,
                               help="side of the latent grid (28 halved twice or once)")
            train.add_argument("--kl-weight", type=finite_float, default=AutoencoderConfig.kl_weight,
                               help="beta of the KL term, >= 0")
        train.add_argument("--lr", type=finite_float, default=TrainConfig.lr, help="Adam's peak learning rate")
        train.set_defaults(handler=cmd_train)


def cmd_train(args) -> int:
    from ..train import train_classifier, train_diffusion

    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {"label_dropout": args.label_dropout} if args.command in ("train", "train-latent") else {}
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, lr=args.lr, **extra)
    device = pick_device(args.device)
    if args.command in ("train", "train-latent") and args.base_channels % UNetConfig.groups:
        raise ValueError(f"--base-channels must be a multiple of {UNetConfig.groups} (the GroupNorm groups), "
                         f"got {args.base_channels}")
    if args.command == "train-autoencoder":
        net = AutoencoderConfig(latent_channels=args.latent_channels, channel_mults=LATENT_SIDES[args.latent_side],
                                kl_weight=args.kl_weight)  # raises on a bad value before any data is read
    if args.command == "train-latent":
        from ..latent import latent_unet_config
        from ..pretrained import read_card

        latent_channels = read_card(args.autoencoder.name, args.autoencoder.parent)["config"]["latent_channels"]
        net = latent_unet_config(latent_channels, args.base_channels)
    images, labels = load_mnist("train", args.data_dir)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    if args.command == "train":
        net = UNetConfig(base_channels=args.base_channels)
        card = train_diffusion(images, labels, args.out, cfg, net, resume=args.resume, device=device,
                               init_from=args.init_from)
    elif args.command == "train-autoencoder":
        from ..train_latent import train_autoencoder

        card = train_autoencoder((images, labels), load_mnist("test", args.data_dir), args.out, cfg, net,
                                 resume=args.resume, device=device)
    elif args.command == "train-latent":
        from ..train_latent import train_latent

        card = train_latent(images, labels, args.out, cfg, net, args.autoencoder, resume=args.resume, device=device,
                            init_from=args.init_from)
    else:
        card = train_classifier((images, labels), load_mnist("test", args.data_dir), args.out, cfg,
                                resume=args.resume, device=device)
    print(f"wrote {args.out}.safetensors (sha256 {card['sha256'][:12]}...) and {args.out}.json")
    return 0
