"""``syllo-tui``: watch a syllo run live, or print its state once.

    syllo-tui                          # status/events.jsonl
    syllo-tui runs/a/status/events.jsonl
    syllo-tui runs/a/status runs/b/status  # several runs: the run list, overlay, side by side
    syllo-tui runs/                        # every run below runs/ (and those that start later)
    syllo-tui gpu-box:run/status           # a run on another machine, over the system ssh
    ssh gpu-box tail -n +1 -F run/status/events.jsonl | syllo-tui -
    syllo-tui --once status/events.jsonl   # plain-text summary, for scripts and CI logs

Only argparse is imported up front: ``--help`` must answer at once, and
nothing here ever imports torch or transformers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from syllo_tui.runs import RunSpec

DEFAULT_EVENTS = "status/events.jsonl"


def build_parser() -> argparse.ArgumentParser:
    """The command line (kept import-light for a fast --help)."""
    p = argparse.ArgumentParser(
        prog="syllo-tui",
        description="Live monitor for a syllo training run: follows its events file (NDJSON).",
        epilog="Keys: ? lists them all; q quits. NO_COLOR=1 turns colours off.",
    )
    p.add_argument(
        "events",
        nargs="*",
        default=[DEFAULT_EVENTS],
        help="events files, folders holding events.jsonl, folders of runs (every events.jsonl "
        f"below), or - for stdin (default: {DEFAULT_EVENTS})",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="print a plain-text summary of the current state and exit (several runs: a table)",
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="show a training run as stale after this long without an event (default: 120)",
    )
    p.add_argument("--utc", action="store_true", help="show times in UTC instead of local time")
    p.add_argument(
        "--poll",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="poll the file this often as well as on change notifications (default: 0.5)",
    )
    p.add_argument(
        "--no-watch", action="store_true", help="no change notifications; poll only (e.g. NFS)"
    )
    p.add_argument(
        "--ssh-config",
        metavar="FILE",
        help="HOST:PATH runs: the ssh client's config file (ssh -F); default: ssh's own",
    )
    p.add_argument(
        "--keepalive",
        type=int,
        default=5,
        metavar="SECONDS",
        help="HOST:PATH runs: SSH keepalive interval; a silent connection is noticed within "
        "4 of them (default: 5)",
    )
    p.add_argument(
        "--from-start",
        action="store_true",
        help="read the file from its start instead of cold-opening from its tail",
    )
    return p


def _error(message: str) -> int:
    print(f"syllo-tui: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``syllo-tui`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.poll <= 0:
        return _error(f"--poll must be positive, got {args.poll}")
    if args.stale_after is not None and args.stale_after <= 0:
        return _error(f"--stale-after must be positive, got {args.stale_after}")
    if args.keepalive < 1:
        return _error(f"--keepalive must be at least 1 second, got {args.keepalive}")
    from syllo_tui.runs import select
    from syllo_tui.state import DEFAULT_STALE_AFTER_S

    if args.stale_after is None:
        args.stale_after = DEFAULT_STALE_AFTER_S
    if "-" in args.events and len(args.events) > 1:
        return _error("- (stdin) cannot be combined with other runs")
    chosen = select(args.events)
    tz = UTC if args.utc else None
    from syllo_tui.remote import SshOptions, parse_remote

    args.ssh = SshOptions(config=args.ssh_config, keepalive_s=args.keepalive)
    if args.once and any(parse_remote(r.target) for r in chosen.runs):
        return _error(
            "--once reads local files; for a run on another machine: ssh HOST syllo-tui --once PATH"
        )
    if not chosen.several:
        spec = chosen.runs[0].target
        if args.once:
            return _once(spec, tz=tz, stale_after_s=args.stale_after)
        return _live(spec, args, tz=tz)
    if args.once:
        return _once_table(chosen.runs, tz=tz, stale_after_s=args.stale_after)
    return _live_several(chosen.runs, chosen.folders, args, tz=tz)


def _once(spec: str, *, tz: tzinfo | None, stale_after_s: float) -> int:
    from syllo_tui.follower import cold_open_events
    from syllo_tui.render import summary
    from syllo_tui.state import RunState
    from syllo_tui.stream import EventTail, StdinTail

    state = RunState(stale_after_s=stale_after_s)
    if spec == "-":
        with StdinTail() as src:
            while True:
                result = src.poll()
                state.apply_all(result.events)
                state.note_malformed(result.malformed)
                if result.eof:
                    break
                if not result.events:
                    time.sleep(0.01)
    else:
        if not os.path.exists(spec):
            return _error(
                f"{spec}: no such events file (is the trainer writing to another output dir?)"
            )
        try:
            with EventTail(spec) as tail:
                state.apply_all(cold_open_events(tail))
                state.note_malformed(tail.malformed_total)
        except OSError as exc:
            return _error(f"{spec}: cannot read: {exc.strerror or exc}")
    sys.stdout.write(summary(state, time.time(), tz))
    return 0


def _once_table(specs: list[RunSpec], *, tz: tzinfo | None, stale_after_s: float) -> int:
    """Several runs: the run list as a table (each run read from its tail, as the list is)."""
    from syllo_tui.follower import LIST_TAIL_EVENTS, cold_open_events
    from syllo_tui.runtable import run_row, table
    from syllo_tui.state import RunState
    from syllo_tui.stream import EventTail

    now = time.time()
    rows = []
    for spec in specs:
        state = RunState(stale_after_s=stale_after_s)
        try:
            with EventTail(spec.target) as tail:
                state.apply_all(cold_open_events(tail, max_events=LIST_TAIL_EVENTS))
                state.note_malformed(tail.malformed_total)
        except OSError as exc:
            return _error(f"{spec.target}: cannot read: {exc.strerror or exc}")
        rows.append(run_row(spec.name, state, now))
    sys.stdout.write(table(rows))
    return 0


def _live_several(
    specs: list[RunSpec], folders: list[Path], args: argparse.Namespace, *, tz: tzinfo | None
) -> int:
    from syllo_tui.app import make_app

    _forget_inherited_size()
    app = make_app(
        specs,
        tz=tz,
        watch=not args.no_watch,
        poll_interval_s=args.poll,
        cold_open=not args.from_start,
        stale_after_s=args.stale_after,
        folders=folders,
        several=True,
        ssh=args.ssh,
    )
    app.run()
    return app.return_code or 0


def _forget_inherited_size() -> None:
    if sys.stdout.isatty():
        # An inherited COLUMNS/LINES (GNU readline exports them, e.g. from a
        # parent Python) would pin the app to that size and hide every resize:
        # the terminal itself knows better.
        for var in ("COLUMNS", "LINES"):
            os.environ.pop(var, None)


def _live(spec: str, args: argparse.Namespace, *, tz: tzinfo | None) -> int:
    from syllo_tui.app import make_app
    from syllo_tui.stream import StdinTail

    _forget_inherited_size()
    if spec == "-":
        if sys.stdin.isatty():
            return _error("- reads events from stdin, but stdin is a terminal: pipe events in")
        try:
            events = _detach_stdin()
        except OSError as exc:
            return _error(
                f"- needs a terminal for the keyboard and none is available ({exc}); use --once"
            )
        source = StdinTail(events)
        app = make_app(source, tz=tz, stale_after_s=args.stale_after)
    else:
        app = make_app(
            spec,
            tz=tz,
            watch=not args.no_watch,
            poll_interval_s=args.poll,
            cold_open=not args.from_start,
            stale_after_s=args.stale_after,
            ssh=args.ssh,
        )
    app.run()
    return app.return_code or 0


def _detach_stdin() -> BinaryIO:
    """Move the piped events off fd 0 and put the terminal there, where Textual reads keys."""
    events_fd = os.dup(0)
    tty = os.open("/dev/tty", os.O_RDONLY)
    os.dup2(tty, 0)
    os.close(tty)
    return os.fdopen(events_fd, "rb")


if __name__ == "__main__":
    raise SystemExit(main())
