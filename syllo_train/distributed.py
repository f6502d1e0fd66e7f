"""Several processes (torchrun, accelerate launch): who is who, and what they must agree on.

* ``dist_info``: this process's rank and the world size;
* ``is_sharded``: FSDP / ZeRO-3 weights, where every forward pass is a
  collective, so eval generation runs on every rank in lockstep;
* ``agree_min``: the smallest of a value across ranks (a generation's time
  limit under lockstep: every rank takes the same branch);
* ``GracefulStop``: the stop signal. On one process a SIGINT/SIGTERM stops
  training after the current step, saved; under several, how many ranks got
  each signal is agreed at the next log step (one tiny all-reduce), so every
  rank stops at the same step and none is left in a collective;
* ``distributed_info``: ``run_start``'s ``distributed`` object.

Only the main process (rank 0) writes events. Imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import TrainerCallback

#: The signals that ask for a graceful stop (runner installs the handlers).
STOP_SIGNALS = ("SIGINT", "SIGTERM")


def dist_info() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_sharded(model: Any) -> bool:
    """Are the weights sharded across ranks (FSDP 1/2, DeepSpeed ZeRO-3)?

    Then every forward pass is a collective: all ranks must run it together.
    """
    import torch.distributed.fsdp as fsdp

    names = ("FSDPModule", "FullyShardedDataParallel")  # FSDP2 (torch >= 2.6 name), FSDP1
    kinds = tuple(k for k in (getattr(fsdp, n, None) for n in names) if k is not None)
    if kinds and any(isinstance(m, kinds) for m in model.modules()):
        return True
    from transformers.integrations import is_deepspeed_zero3_enabled

    return bool(is_deepspeed_zero3_enabled())


def agree_min(value: float, device: Any) -> float:
    """The smallest ``value`` across all ranks (every rank must call it)."""
    t = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return float(t.item())


class GracefulStop(TrainerCallback):
    """Turns a stop signal into "save this step, then stop", at the same step on every rank.

    The signal handler only sets ``requested`` (it runs on the main thread,
    which may hold a writer lock); the note and the stop happen here, in the
    training loop. Add it after the eval tier: a stop cancels a due eval.
    """

    def __init__(self, reporter: Any, world_size: int) -> None:
        self.reporter = reporter
        self.world_size = world_size
        self.requested: str | None = None  # set by the signal handler
        self._announced = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        # Under several processes a signal is acted on only once all ranks agree (on_log).
        if self.requested and self.world_size == 1:
            self._stop_here(state.global_step, control, self.requested)
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        if self.world_size <= 1 or not logs or "loss" not in logs:
            return control
        flags = [1.0 if self.requested == name else 0.0 for name in STOP_SIGNALS]
        t = torch.tensor(flags, dtype=torch.float64, device=args.device)
        torch.distributed.all_reduce(t)
        received = [(name, int(n)) for name, n in zip(STOP_SIGNALS, t.tolist(), strict=True) if n]
        if received:
            # Every rank sees the same sums: all stop after this step, saved.
            name, ranks = received[-1]
            self.requested = self.requested or name
            why = f"{name} (on {ranks} of {self.world_size} processes)"
            self._stop_here(state.global_step, control, why)
        return control

    def _stop_here(self, step: int, control: Any, why: str) -> None:
        """Finish this step, save it, stop: no eval on the way out."""
        if not self._announced:
            self._announced = True
            self.reporter.note(
                f"received {why}: saving a checkpoint at step {step}, then stopping "
                "(send it again to exit at once)"
            )
        control.should_save = True
        control.should_training_stop = True
        control.should_evaluate = False


def distributed_info(args: Any) -> dict[str, Any] | None:
    """run_start's optional ``distributed`` object (docs/events.md); None on one process."""
    if args.world_size <= 1:
        return None
    env = os.environ
    world = int(args.world_size)
    local = int(env.get("LOCAL_WORLD_SIZE", world))
    if "TORCHELASTIC_RUN_ID" in env:
        # accelerate launch runs torchrun underneath; its own variables tell it apart.
        launcher = "accelerate" if "ACCELERATE_MIXED_PRECISION" in env else "torchrun"
    else:
        launcher = "env"  # MPI, srun, or a hand-set MASTER_ADDR/RANK/WORLD_SIZE
    use_fsdp = bool(args.fsdp) or env.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    use_ds = bool(args.deepspeed) or env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    return {
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "world_size": world,
        "local_world_size": local,
        "nnodes": int(env.get("GROUP_WORLD_SIZE", max(1, world // max(1, local)))),
        "launcher": launcher,
        "master_addr": env.get("MASTER_ADDR"),
        "master_port": int(env["MASTER_PORT"]) if env.get("MASTER_PORT", "").isdigit() else None,
        "restart_count": int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
        "max_restarts": int(env.get("TORCHELASTIC_MAX_RESTARTS", 0)),
        "ddp_timeout": int(args.ddp_timeout),
        "ddp_find_unused_parameters": args.ddp_find_unused_parameters,
        "sharding": "fsdp" if use_fsdp else "deepspeed" if use_ds else None,
        "global_batch_size": args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * world,
    }
