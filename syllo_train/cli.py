"""``syllo-train``: the command line. Subcommands import what they need lazily,
so ``--help`` and ``validate`` do not pay for torch/transformers up front."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from syllo_train import __version__, exitcodes
from syllo_train.inert import print_inert


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

    run = sub.add_parser(
        "run",
        help="train as the config says (resumes automatically)",
        epilog="exit codes: 0 completed or stopped, 1 failed, 2 bad input (nothing written), "
        "5 the output folder is in use by another trainer (docs/operations.md)",
    )
    _add_config_args(run)
    run.add_argument("--quiet", action="store_true", help="do not echo the human log to stdout")
    _add_operations_args(run)

    validate = sub.add_parser(
        "validate", help="check a config and its data without loading model weights"
    )
    _add_config_args(validate)
    validate.add_argument("--no-data", action="store_true", help="check the config only")

    data = sub.add_parser("data", help="generate training data, or convert a dataset to chat JSONL")
    data.add_argument(
        "kind",
        choices=["syllo", "convert"],
        help="syllo: generate SYLLO puzzles; convert: write any data source as chat JSONL",
    )
    data.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        help="the command's own options (see: syllo-train data syllo --help, data convert --help)",
    )

    model = sub.add_parser("model", help="build a small model locally")
    model.add_argument(
        "kind",
        choices=["tiny"],
        help="tiny: a byte-level BPE tokenizer and a small Llama-style model",
    )
    model.add_argument(
        "args", nargs=argparse.REMAINDER, help="options (see: syllo-train model tiny --help)"
    )

    stop = sub.add_parser(
        "stop", help="stop a running trainer gracefully (checkpoint, run_end stopped)"
    )
    stop.add_argument(
        "dir",
        nargs="?",
        default="status",
        help="the run's output.dir, or its config file (default: status)",
    )
    stop.add_argument(
        "--now",
        action="store_true",
        help="SIGKILL at once (no checkpoint); run_end stopped is still written",
    )
    stop.add_argument(
        "--no-wait", action="store_true", help="send the signal and return without waiting"
    )
    stop.add_argument(
        "--timeout",
        type=_seconds,
        default=900.0,
        metavar="SECONDS",
        help="how long to wait for a graceful stop (default: 900)",
    )

    status = sub.add_parser(
        "status",
        help="print a run's state; exit 0 running, 1 failed, 2 no run, 3 stale, 4 finished",
        description="Print a run's state from its status snapshot and lock. Exit code: 0 running, 1 failed, "
        "2 no run there / usage error, 3 stale (says training, but nothing alive or moving), "
        "4 finished (completed or stopped).",
    )
    status.add_argument(
        "dir",
        nargs="?",
        default="status",
        help="the run's output.dir, or its config file (default: status)",
    )
    status.add_argument(
        "--stale-after",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="call a live run stale after this long without an event or heartbeat "
        "(default: the supervisor's --stall-timeout, else 600)",
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be 0 or more")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _add_operations_args(run: argparse.ArgumentParser) -> None:
    """``run --detach/--supervise`` and the supervisor's patience (docs/operations.md)."""
    ops = run.add_argument_group("operations (docs/operations.md)")
    ops.add_argument(
        "--detach",
        action="store_true",
        help="run in the background, in its own session, supervised; output in <output.dir>/trainer.out",
    )
    ops.add_argument(
        "--supervise",
        action="store_true",
        help="run under a supervisor that restarts a crashed or hung trainer from its last checkpoint",
    )
    ops.add_argument(
        "--stall-timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="supervisor: no event or heartbeat this long = hung; kill and restart (default: 600)",
    )
    ops.add_argument(
        "--start-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="supervisor: the same until the trainer's first step (default: max(1800, --stall-timeout))",
    )
    ops.add_argument(
        "--max-restarts",
        type=_count,
        default=3,
        metavar="N",
        help="supervisor: restarts allowed before run_end failed (default: 3)",
    )
    ops.add_argument(
        "--backoff",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="supervisor: wait before the first restart; doubles each time, at most 300 s (default: 5)",
    )


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from syllo_train.config import ConfigError, load_config

    try:
        return load_config(args.config, args.overrides)
    except ConfigError as exc:
        print_inert(f"syllo-train: error: {exc}")
        return None


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg is None:
        return exitcodes.BAD_INPUT
    if (args.detach or args.supervise) and "LOCAL_RANK" in os.environ:
        # Under torchrun each rank would start its own supervisor and trainer.
        print_inert(
            "syllo-train: error: --detach/--supervise cannot run under torchrun or accelerate; "
            "use the launcher's own restarts (torchrun --max-restarts), see docs/distributed.md"
        )
        return exitcodes.BAD_INPUT
    if args.detach or args.supervise:
        from syllo_train.ops.supervisor import SuperviseOptions, supervise

        opts = SuperviseOptions(
            stall_timeout_s=args.stall_timeout,
            start_timeout_s=args.start_timeout
            if args.start_timeout is not None
            else max(1800.0, args.stall_timeout),
            max_restarts=args.max_restarts,
            backoff_s=args.backoff,
            quiet=args.quiet or args.detach,
        )
        if args.detach:
            from syllo_train.ops.commands import detach

            return detach(cfg, args.config, args.overrides, opts)
        return supervise(cfg, args.config, args.overrides, opts)
    from syllo_train.runner import run

    return run(cfg, echo=None if args.quiet else sys.stdout, config_path=args.config)


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg is None:
        return exitcodes.BAD_INPUT
    from syllo_train.validate import validate

    return validate(cfg, check_data=not args.no_data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "validate":
        return cmd_validate(args)
    if args.command == "data" and args.kind == "convert":
        from syllo_train.data import convert

        return convert.main(list(args.args))
    if args.command == "data":
        from syllo_train.demo import puzzles

        return puzzles.main(list(args.args))
    if args.command == "model":
        from syllo_train.demo import tiny_model

        return tiny_model.main(list(args.args))
    if args.command == "stop":
        from syllo_train.ops.commands import stop

        return stop(args.dir, now=args.now, wait=not args.no_wait, timeout_s=args.timeout)
    if args.command == "status":
        from syllo_train.ops.commands import status

        return status(args.dir, stale_after_s=args.stale_after)
    parser.print_help()
    return exitcodes.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
