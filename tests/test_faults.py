"""ops/faults.py: the test-only SYLLO_FAULT hook's syntax (the faults themselves: test_supervisor.py)."""

from __future__ import annotations

import pytest

from syllo_train.ops.faults import parse_faults


def test_fault_specs_parse_and_bad_ones_are_refused() -> None:
    faults = parse_faults(
        "hang@12:once, crash@3 ,slow@1:secs=0.2,kill@5:attempt=2,slowstart@0:secs=3"
    )
    assert [(f.kind, f.step, f.attempt) for f in faults] == [
        ("hang", 12, 0),
        ("crash", 3, None),
        ("slow", 1, None),
        ("kill", 5, 2),
        ("slowstart", 0, None),
    ]
    assert faults[2].secs == 0.2
    assert faults[0].due(12, 0) and not faults[0].due(12, 1) and not faults[0].due(11, 0)
    assert faults[1].due(7, 4)  # the first step end at or after 3, in every attempt
    assert parse_faults("") == []
    for bad in ("explode@3", "hang@x", "hang", "crash@3:twice"):
        with pytest.raises(ValueError, match="SYLLO_FAULT"):
            parse_faults(bad)
