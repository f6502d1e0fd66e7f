"""The stall watchdog on its own (watchdog.py): a clock the test moves stands in for a stuck call."""

from __future__ import annotations

import threading
import time

import pytest
from _generation_support import FakeClock, wait_until
from _support import WAIT_S

from syllo_train.watchdog import StallInfo, StallWatchdog


def test_watchdog_survives_a_failing_callback(capfd: pytest.CaptureFixture[str]) -> None:
    fired: list[object] = []
    clock = FakeClock()

    def on_stall(info: StallInfo) -> None:
        fired.append(info.label)
        if info.label == "first":
            raise OSError("disk full")

    with StallWatchdog(on_stall, grace_s=0.05, poll_s=0.01, clock=clock) as wd:
        with wd.watch("first", 0.05):
            clock.advance(1)  # stuck past limit + grace until the watchdog has fired
            wait_until(lambda: fired == ["first"], "the first stall report")
        with wd.watch("second", 0.05) as w:
            clock.advance(1)
            wait_until(lambda: len(fired) == 2, "the second stall report")
        assert wd.running
    assert fired == ["first", "second"] and w.stalled
    err = capfd.readouterr().err
    assert "on_stall failed" in err and "OSError: disk full" in err


def test_stalled_watch_ends_only_after_on_stall_returned() -> None:
    recorded: list[object] = []
    started = threading.Event()
    clock = FakeClock()

    def slow_on_stall(info: StallInfo) -> None:
        started.set()
        time.sleep(0.3)  # e.g. a write to a slow disk
        recorded.append(info.label)

    with StallWatchdog(slow_on_stall, grace_s=0.05, poll_s=0.01, clock=clock) as wd:
        with wd.watch("stuck", 0.05) as w:
            clock.advance(1)
            # The stuck call returns while on_stall is still writing.
            assert started.wait(WAIT_S), "the watchdog never reported the stall"
        # A caller that sees a stalled result can rely on the stall being recorded.
        assert w.stalled and recorded == ["stuck"]


def test_watchdog_quiet_when_in_time() -> None:
    fired: list[StallInfo] = []
    clock = FakeClock()
    with StallWatchdog(fired.append, grace_s=0.1, poll_s=0.01, clock=clock) as wd:
        with wd.watch("quick", 0.2) as w:
            clock.advance(0.1)  # done well within its limit
        clock.advance(100)  # past the watch's fire time, but it was disarmed
        time.sleep(0.1)  # a few of the watchdog's polls
    assert fired == [] and not w.stalled
    assert not wd.running
