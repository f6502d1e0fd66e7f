"""``syllo-train``: the command line. Subcommands import what they need lazily,
so ``--help`` and ``validate`` do not pay for torch/transformers up front."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from syllo_train import __version__

EXIT_BAD_INPUT = 2


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="TOML config file (see docs/config.md)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config key, typed like the key (repeatable), e.g. --set train.max_steps=50",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syllo-train",
        description="Fine-tune a causal LM with Hugging Face transformers and stream what it learns "
        "to status/events.jsonl (watch it with syllo-tui).",
    )
    parser.add_argument("--version", action="version", version=f"syllo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="train as the config says (resumes automatically)")
    _add_config_args(run)
    run.add_argument("--quiet", action="store_true", help="do not echo the human log to stdout")

    validate = sub.add_parser("validate", help="check a config and its data without loading model weights")
    _add_config_args(validate)
    validate.add_argument("--no-data", action="store_true", help="check the config only")

    data = sub.add_parser("data", help="generate training data")
    data.add_argument("kind", choices=["syllo"], help="the data generator (syllo: SYLLO puzzles)")
    data.add_argument("args", nargs=argparse.REMAINDER, help="the generator's own options (see: syllo-train data syllo --help)")

    model = sub.add_parser("model", help="build a small model locally")
    model.add_argument("kind", choices=["tiny"], help="tiny: a byte-level BPE tokenizer and a small Llama-style model")
    model.add_argument("args", nargs=argparse.REMAINDER, help="options (see: syllo-train model tiny --help)")
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from syllo_train.config import ConfigError, load_config

    try:
        return load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"syllo-train: error: {exc}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg is None:
        return EXIT_BAD_INPUT
    from syllo_train.runner import run

    return run(cfg, echo=None if args.quiet else sys.stdout)


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg is None:
        return EXIT_BAD_INPUT
    from syllo_train.validate import validate

    return validate(cfg, check_data=not args.no_data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "validate":
        return cmd_validate(args)
    if args.command == "data":
        from syllo_train import puzzles

        return puzzles.main(list(args.args))
    if args.command == "model":
        from syllo_train import tiny_model

        return tiny_model.main(list(args.args))
    parser.print_help()
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
