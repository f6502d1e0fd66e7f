"""Each TrainerCallback is called only for the events it handles.

The Trainer calls every callback at every event (``on_step_begin``,
``on_pre_optimizer_step``, ``on_optimizer_step``, ``on_step_end``, … several a
step), and a callback that does not handle one runs TrainerCallback's empty
method. syllo has one job per callback, so five callbacks; most of those calls
do nothing, and they were most of what syllo added to a non-log step
(bench/bench_log_tier.py). :class:`HandledEventsOnly` skips a callback for an
event whose method it does not override: the same calls that do something, in
the same order, with the same ``control`` threaded through.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import CallbackHandler


def handles(callback: Any, event: str) -> bool:
    """Does ``callback`` do anything at ``event`` (its class or the instance overrides it)?"""
    if event in vars(callback):
        return True
    return getattr(type(callback), event, None) is not getattr(TrainerCallback, event, None)


class HandledEventsOnly(CallbackHandler):
    """A CallbackHandler that calls, per event, only the callbacks that handle it.

    Made from the Trainer's own handler with :func:`handle_events_only`; the
    list of callbacks per event is kept until a callback is added or removed.
    """

    _listeners: dict[str, list[Any]]

    def call_event(self, event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        listeners = self._listeners.get(event)
        if listeners is None:
            listeners = self._listeners[event] = [cb for cb in self.callbacks if handles(cb, event)]
        for callback in listeners:
            result = getattr(callback, event)(
                args,
                state,
                control,
                model=self.model,
                processing_class=self.processing_class,
                optimizer=self.optimizer,
                lr_scheduler=self.lr_scheduler,
                train_dataloader=self.train_dataloader,
                eval_dataloader=self.eval_dataloader,
                **kwargs,
            )
            # A callback may skip returning control if it does not change it.
            if result is not None:
                control = result
        return control

    def add_callback(self, callback: Any) -> None:
        super().add_callback(callback)
        self._listeners.clear()

    def pop_callback(self, callback: Any) -> Any:
        self._listeners.clear()
        return super().pop_callback(callback)

    def remove_callback(self, callback: Any) -> None:
        super().remove_callback(callback)
        self._listeners.clear()


def handle_events_only(handler: CallbackHandler) -> HandledEventsOnly:
    """Turn the Trainer's handler (same callbacks, same state) into a :class:`HandledEventsOnly`."""
    handler.__class__ = HandledEventsOnly
    assert isinstance(handler, HandledEventsOnly)
    handler._listeners = {}
    return handler
