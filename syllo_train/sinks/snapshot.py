"""The status snapshot: ``training_status.json``, the run's state in one small file.

It is a fold of the event stream (``StatusSnapshot.apply``), so it always
agrees with the last event; its derived values (gap, accuracies, percentages,
ETA) follow the rules of syllo_train/derived.py, as the human log and the TUI
do. It is replaced atomically (write a temp file in the same folder, rename
over) so a reader never sees half a file.
``jq '{step, loss, val_loss, gap}' status/training_status.json`` answers.
Pure: stdlib and orjson only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from syllo_train import derived
from syllo_train.atomic import write_json_atomic

#: Events worth an fsync of the snapshot: a person relies on these after a crash.
DURABLE_ON = frozenset({"checkpoint", "run_end"})

#: The snapshot's own format version (independent of the event schema). 2: ``gap``
#: is the latest eval's (derived.gap), no longer recomputed against each new loss.
SNAPSHOT_VERSION = 2


class StatusSnapshot:
    """Folds events into the snapshot dict (see docs/events.md, "Status snapshot")."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {
            "snapshot_version": SNAPSHOT_VERSION,
            "status": "starting",
            "run_id": None,
            "model": None,
            "pid": os.getpid(),
            "step": 0,
            "total_steps": None,
            "epoch": None,
            "loss": None,
            "val_loss": None,
            "gap": None,
            "lr": None,
            "grad_norm": None,
            "steps_per_s": None,
            "tokens_per_s": None,
            "eta_s": None,
            "elapsed_s": None,
            "peak_mem_bytes": None,
            "timeouts": 0,
            "timeout_pct": 0.0,
            "accuracy": None,
            "last_eval_accuracy": None,
            "eval_share": None,
            "eval_budget": None,
            "counters": {},
            "last_example": None,
            "last_checkpoint": None,
            "resumed_from": None,
            "reason": None,
            "updated_at": None,
            "anomalies": 0,
            "last_anomaly": None,
            "best": None,
            "overfitting": False,
        }
        self._trend = derived.GapTrend()
        self._eta: tuple[float | None, float | None] = (None, None)  # the latest log's (eta_s, ts)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event into the snapshot."""
        d = self.data
        etype = event.get("type")
        d["run_id"] = event.get("run_id", d["run_id"])
        d["step"] = event.get("step", d["step"])
        d["updated_at"] = event.get("ts", time.time())
        counters = event.get("counters")
        if isinstance(counters, dict):
            view = derived.counters_view(counters)
            d["counters"] = counters
            d["timeouts"] = view["timeouts"]
            d["timeout_pct"] = view["timeout_pct"]
            d["accuracy"] = view["accuracy"]
            d["anomalies"] = view["anomalies"]
        self._trend.apply(event)
        if etype == "run_start":
            d["status"] = "training"
            d["model"] = event.get("model")
            d["total_steps"] = event.get("max_steps")
            d["resumed_from"] = event.get("resumed_from")
            d["pid"] = event.get("pid", d["pid"])
        elif etype == "log":
            self._eta = (event.get("eta_s"), event.get("ts"))
            for key in (
                "total_steps",
                "epoch",
                "loss",
                "lr",
                "grad_norm",
                "steps_per_s",
                "tokens_per_s",
                "elapsed_s",
                "peak_mem_bytes",
            ):
                d[key] = event.get(key)
            ex = event.get("example")
            if isinstance(ex, dict):
                d["last_example"] = {
                    "step": event.get("step"),
                    "tier": "log",
                    "prompt": ex.get("prompt"),
                    "golden": ex.get("golden"),
                    "output": None,  # the log tier never generates
                    "match": None,
                    "loss": ex.get("loss"),
                }
        elif etype == "eval":
            d["val_loss"] = event.get("val_loss")
            d["gap"] = event.get("gap")
            d["last_eval_accuracy"] = event.get("accuracy")
            d["overfitting"] = self._trend.overfitting
            if isinstance(event.get("best"), dict):
                d["best"] = event["best"]
            d["eval_share"] = derived.eval_share_of(event)
            budget = event.get("budget")
            d["eval_budget"] = budget if isinstance(budget, dict) else None
            if event.get("train_loss") is not None:
                d["loss"] = event.get("train_loss")
            samples = event.get("samples") or []
            if samples and isinstance(samples[0], dict):
                s = samples[0]
                d["last_example"] = {
                    "step": event.get("step"),
                    "tier": "eval",
                    "prompt": s.get("prompt"),
                    "golden": s.get("golden"),
                    "output": s.get("output"),  # null when the generation timed out
                    "match": s.get("match"),
                    "timed_out": s.get("timed_out"),
                }
        elif etype == "anomaly":
            d["last_anomaly"] = {
                "step": event.get("step"),
                "kind": event.get("kind"),
                "value": event.get("value"),
                "threshold": event.get("threshold"),
            }
        elif etype == "checkpoint":
            if event.get("best") and isinstance(d["best"], dict):
                d["best"] = {**d["best"], "checkpoint": event.get("path")}
            d["last_checkpoint"] = {
                "step": event.get("step"),
                "path": event.get("path"),
                "ts": event.get("ts"),
            }
        elif etype == "resume":
            d["overfitting"] = False
            d["resumed_from"] = event.get("from_checkpoint")
            if event.get("from_checkpoint"):
                # The checkpoint resumed from is the newest one until the next save.
                d["last_checkpoint"] = {
                    "step": event.get("step"),
                    "path": event.get("from_checkpoint"),
                    "ts": event.get("ts"),
                }
        elif etype == "run_end":
            d["status"] = event.get("status")
            d["reason"] = event.get("reason")
        elif etype == "error":
            d["reason"] = f"{event.get('error_type')}: {event.get('message')}"
        # The ETA as of this event: the latest log's, counted down (derived.eta_at).
        eta_s, eta_ts = self._eta
        d["eta_s"] = derived.eta_at(eta_s, eta_ts, str(d["status"]), float(d["updated_at"] or 0))

    def write(self, *, fsync: bool = False) -> bool:
        """Replace the snapshot file; returns False (never raises) when the disk refuses."""
        try:
            write_json_atomic(self.path, self.data, fsync=fsync)
            return True
        except OSError:
            return False


class SnapshotFile(StatusSnapshot):
    """The snapshot as a sink: every event folded in and the file replaced at once."""

    def apply(self, event: dict[str, Any]) -> None:
        super().apply(event)
        self.write(fsync=event.get("type") in DURABLE_ON)

    def close(self) -> None:
        pass


def read_snapshot(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a snapshot; raises OSError or ValueError with the path in the message."""
    p = Path(path)
    try:
        data = orjson.loads(p.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{p}: not a valid status snapshot ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: not a valid status snapshot (not a JSON object)")
    return data
