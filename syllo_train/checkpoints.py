"""Which checkpoint to resume from, and whether it belongs to this run.

The Trainer writes ``checkpoint-N/`` folders but gives no sign that one is
complete: a kill during a save leaves a folder that looks like any other.
syllo writes ``syllo_checkpoint.json`` into the folder *last*, fsynced, after
the Trainer has finished; a folder without it is incomplete and skipped. The
marker also carries a fingerprint of the data and of the settings that shape
training, so a run pointed at a folder of checkpoints made from other data is
refused instead of "completing" in a minute without training.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllo_train.atomic import write_json_atomic

MARKER_NAME = "syllo_checkpoint.json"
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


class ResumeError(ValueError):
    """The output folder cannot be resumed as asked; the message says how to start fresh."""


@dataclass
class Fingerprint:
    data: str  # content hash of the data files
    settings: str  # hash of the settings that shape training (config.fingerprint_settings)

    def as_dict(self) -> dict[str, str]:
        return {"data": self.data, "settings": self.settings}


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def write_marker(
    ckpt_dir: Path,
    *,
    step: int,
    run_id: str,
    fingerprint: Fingerprint,
    settings: dict[str, Any],
    counters: dict[str, Any] | None = None,
) -> None:
    """Mark ``ckpt_dir`` complete (call only after everything else in it is written)."""
    write_json_atomic(
        ckpt_dir / MARKER_NAME,
        {
            "step": step,
            "run_id": run_id,
            "fingerprint": fingerprint.as_dict(),
            "settings": settings,
            # The run's counters as of this step, so a resumed run continues the totals.
            "counters": counters or {},
        },
        fsync=True,
    )


def read_marker(ckpt_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((ckpt_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """``checkpoint-N`` folders in ``output_dir``, newest (highest N) first."""
    if not output_dir.is_dir():
        return []
    found = []
    for child in output_dir.iterdir():
        m = _CKPT_RE.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found, reverse=True)


@dataclass
class ResumePlan:
    checkpoint: Path | None  # None: start from scratch
    step: int
    skipped: list[str]  # messages about incomplete checkpoints passed over
    counters: dict[str, Any] = field(default_factory=dict)  # cumulative counters at that checkpoint


def plan_resume(
    output_dir: Path, mode: str, fingerprint: Fingerprint, settings: dict[str, Any]
) -> ResumePlan:
    """Decide where training starts, per ``train.resume`` (auto | never | a path)."""
    fresh_hint = (
        f"To start fresh, choose another train.output_dir (e.g. --set train.output_dir={output_dir}-2) "
        f"or delete the checkpoint-* folders in {output_dir}."
    )
    checkpoints = list_checkpoints(output_dir)
    if mode == "never":
        if checkpoints:
            raise ResumeError(
                f'train.resume = "never" but {output_dir} already holds {checkpoints[0][1].name}; '
                f"mixing two runs' checkpoints in one folder would make the next resume ambiguous. {fresh_hint}"
            )
        return ResumePlan(None, 0, [])
    if mode == "auto":
        candidates = checkpoints
    else:
        path = Path(mode)
        if not path.is_dir():
            raise ResumeError(
                f'train.resume = {mode!r}: no such checkpoint folder; use "auto", "never" or a checkpoint-N folder'
            )
        m = _CKPT_RE.match(path.name)
        candidates = [(int(m.group(1)) if m else 0, path)]
    skipped: list[str] = []
    for step, path in candidates:
        marker = read_marker(path)
        if marker is None:
            skipped.append(
                f"skipping {path}: incomplete (no {MARKER_NAME}; its save was interrupted)"
            )
            if mode != "auto":
                raise ResumeError(
                    f'train.resume = {mode!r}: {skipped[-1]}; point it at a complete checkpoint or use "auto"'
                )
            continue
        theirs = marker.get("fingerprint") or {}
        if theirs.get("data") != fingerprint.data:
            raise ResumeError(
                f"{path} was trained on different data (fingerprint {theirs.get('data')} ≠ {fingerprint.data} now); "
                f"resuming it would skip training on the new data. {fresh_hint}"
            )
        if theirs.get("settings") != fingerprint.settings:
            changed = _changed_settings(marker.get("settings") or {}, settings)
            raise ResumeError(
                f"{path} was trained with different settings{changed}; resuming would mix two configurations. "
                f"Restore those settings to resume, or start fresh. {fresh_hint}"
            )
        counters = marker.get("counters") if isinstance(marker.get("counters"), dict) else {}
        return ResumePlan(path, int(marker.get("step", step)), skipped, counters)
    return ResumePlan(None, 0, skipped)


def _changed_settings(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = [
        f"{k}: {old.get(k)!r} then, {new.get(k)!r} now"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return f" ({'; '.join(diffs)})" if diffs else ""


class CheckpointRecorder:
    """What syllo adds to each of the Trainer's saves: the completion marker, the count, the event.

    ``SylloTrainer._save_checkpoint`` calls ``mark_complete`` once the save (every
    rank's part of it) is on disk, then rotates old checkpoints, then ``report``.
    """

    def __init__(
        self,
        reporter: Any,
        *,
        fingerprint: Fingerprint,
        settings: dict[str, Any],
        is_main: bool,
        on_seconds: Any = None,
    ) -> None:
        self.reporter = reporter
        self.fingerprint = fingerprint
        self.settings = settings
        self.is_main = is_main
        self.on_seconds = on_seconds or (lambda seconds: None)  # save time, left out of steps/s

    def mark_complete(self, path: Path, step: int, *, writes_files: bool) -> None:
        """Count the checkpoint and (on the process that writes files) mark it complete."""
        counters = self.reporter.counters
        if self.is_main:
            counters.checkpoints += 1
        if writes_files:
            write_marker(
                path,
                step=step,
                run_id=self.reporter.run_id,
                fingerprint=self.fingerprint,
                settings=self.settings,
                counters=counters.as_dict(),
            )

    def report(self, path: Path, step: int, seconds: float) -> None:
        self.on_seconds(seconds)
        if self.is_main:
            self.reporter.emit("checkpoint", step, path=str(path), seconds=round(seconds, 3))
