"""callback_dispatch.py: callbacks are called for the events they handle, in order, control threaded through."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import CallbackHandler

from syllo_train.callback_dispatch import handle_events_only, handles


class Recorder(TrainerCallback):
    """Handles on_step_end only; records what it saw."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.seen.append(f"{self.name}:{control.should_log}")
        if self.name == "first":
            control.should_log = True  # the next callback sees it
        return control


class Counter(TrainerCallback):
    """Handles nothing at all."""


def make(callbacks: list[Any]) -> CallbackHandler:
    # transformers warns that a handler without its DefaultFlowCallback cannot train: none here.
    return CallbackHandler(
        callbacks, model=None, processing_class=None, optimizer=None, lr_scheduler=None
    )


def call(handler: CallbackHandler, event: str, *extra: Any) -> TrainerControl:
    args = TrainingArguments(output_dir="unused", report_to="none")
    return getattr(handler, event)(args, TrainerState(), TrainerControl(), *extra)


def test_only_the_callbacks_that_handle_an_event_are_called_in_order() -> None:
    seen: list[str] = []
    silent = Counter()
    handler = handle_events_only(make([Recorder("first", seen), silent, Recorder("second", seen)]))
    control = call(handler, "on_step_end")
    assert seen == ["first:False", "second:True"] and control.should_log
    assert handler._listeners["on_step_end"] == [handler.callbacks[0], handler.callbacks[2]]
    call(handler, "on_step_begin")  # nobody handles it: nothing is called, nothing breaks
    assert handler._listeners["on_step_begin"] == []
    assert not handles(silent, "on_step_end") and handles(handler.callbacks[0], "on_step_end")


def test_adding_or_removing_a_callback_is_seen_at_the_next_event() -> None:
    seen: list[str] = []
    handler = handle_events_only(make([Recorder("first", seen)]))
    call(handler, "on_step_end")
    late = Recorder("late", seen)
    handler.add_callback(late)
    call(handler, "on_step_end")
    handler.remove_callback(late)
    call(handler, "on_step_end")
    assert seen == ["first:False", "first:False", "late:True", "first:False"]


def test_a_method_set_on_the_instance_counts_as_handling() -> None:
    seen: list[str] = []
    cb = Counter()
    cb.on_log = lambda args, state, control, **kw: seen.append("instance")  # type: ignore[method-assign]
    handler = handle_events_only(make([cb]))
    call(handler, "on_log", {"loss": 1.0})
    assert seen == ["instance"]
