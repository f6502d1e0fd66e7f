"""remote.py: HOST:PATH parsing, and a run followed over a real sshd on 127.0.0.1.

The server is OpenSSH's own, started by the test (tests/_sshd.py) with its own
host key, a user key made for the test and a client ssh_config; only
127.0.0.1 is used. The connection is killed (SIGKILL of the sshd processes
serving it) and, separately, frozen (SIGSTOP: only SSH keepalives can notice);
each time the source says so, reconnects and ends up with exactly the
events of the file, none twice, none missing. Every wait is for the thing
that matters (the events, the source's note), bounded by WAIT_S.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventgen
import pytest
from _sshd import Sshd, Unavailable, kill_leftovers, record_skip
from _support import WAIT_S, decode_events
from _tmux import Tmux, Writer, tui_command

from syllo_tui.remote import DEFAULT_PATH, Remote, RemoteTail, SshOptions, parse_remote
from syllo_tui.stream import open_source


def test_host_path_follows_scp_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_remote("gpu-box:runs/a/status") == Remote("gpu-box", "runs/a/status")
    assert parse_remote("me@gpu-box:/abs/events.jsonl") == Remote("me@gpu-box", "/abs/events.jsonl")
    assert parse_remote("[::1]:runs/a") == Remote("[::1]", "runs/a")
    assert parse_remote("me@[::1]:x") == Remote("me@[::1]", "x")
    assert parse_remote("gpu-box:") == Remote("gpu-box", DEFAULT_PATH)
    for local in ("./a:b", "/x/a:b", "dir/a:b", "-", "status/events.jsonl", ":path", "@h:p"):
        assert parse_remote(local) is None, local
    Path("a:b").write_text("")  # an existing local path always wins
    assert parse_remote("a:b") is None
    assert parse_remote("a:c") == Remote("a", "c")
    assert isinstance(open_source("a:b"), type(open_source("x.jsonl")))


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    try:
        server = Sshd.start(tmp_path_factory.mktemp("ssh"))
    except Unavailable as exc:
        record_skip(str(exc))
        print(f"\nremote (ssh) tests skipped: {exc}")
        pytest.skip(f"cannot run sshd here: {exc}")
    login = server.ssh("echo", "ok")
    if login.stdout.strip() != "ok":
        server.stop()
        reason = f"cannot log in to the test's sshd: {login.stderr.strip()[-200:]}"
        record_skip(reason)
        pytest.skip(reason)
    yield server
    server.stop()


class Collector:
    """Polls a RemoteTail; a reset forgets what came before, as the monitor does."""

    def __init__(self, src: RemoteTail) -> None:
        self.src = src
        self.events: list[dict[str, Any]] = []
        self.resets = 0

    def until(self, what: Callable[[], bool], desc: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"never: {desc}; {len(self.events)} events, note {self.src.note!r}"
                )
            res = self.src.poll()
            if res.reset:
                self.events.clear()
                self.resets += 1
            self.events += res.events
            if not res.events:
                time.sleep(0.02)  # between polls; the wait itself is for the events


def test_a_remote_run_survives_a_kill_a_freeze_and_a_replaced_file(
    sshd: Sshd, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "status" / "events.jsonl"
    path.parent.mkdir(parents=True)
    writer = Writer(path)
    src = RemoteTail(
        Remote("127.0.0.1", str(path.parent)),  # a folder: its events.jsonl
        SshOptions(config=str(sshd.client_config), keepalive_s=1),
    )
    got = Collector(src)
    frozen: list[int] = []
    try:
        writer.do("mid_run")
        got.until(lambda: got.events == decode_events(path), "the whole run")
        assert src.note is None and src.connects == 1

        # Killed: the connection drops at once.
        sshd.wait_connections()
        assert sshd.signal_connections(signal.SIGKILL)
        got.until(lambda: "reconnecting" in (src.note or ""), "the drop reported")
        for step in (1210, 1220, 1230):
            writer.do(f"log {step}")
        got.until(lambda: got.events == decode_events(path), "the events after the drop")
        assert src.connects >= 2 and got.resets == 0

        # Frozen: nothing comes and nothing fails; keepalives must notice.
        sshd.wait_connections()
        frozen = sshd.signal_connections(signal.SIGSTOP)
        assert frozen
        writer.do("log 1240")
        writer.do("eval 1240")
        got.until(lambda: "reconnecting" in (src.note or ""), "the silent drop reported")
        got.until(lambda: got.events == decode_events(path), "the events after the freeze")
        assert got.resets == 0, "a resumed connection is not a reset"
        assert [e["step"] for e in got.events].count(1230) == 1

        # Replaced on the remote side: a reset, then the new file from its tail.
        other = tmp_path / "other.jsonl"
        eventgen.mid_run(other, step=40, run_id="20231114-221320-000new").close()
        os.replace(other, path)
        got.until(lambda: got.resets == 1 and got.events == decode_events(path), "the new file")
    finally:
        src.close()
        writer.close()
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_leftovers(str(tmp_path))


def test_syllo_tui_host_path_in_a_terminal(sshd: Sshd, tmp_path: Path) -> None:
    """``syllo-tui 127.0.0.1:PATH`` follows a live run; a kill and a freeze are shown and survived."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    path = tmp_path / "events.jsonl"
    writer = Writer(path)
    tmux = Tmux(tmp_path)
    frozen: list[int] = []
    try:
        writer.do("mid_run")
        args = f"--ssh-config {shlex.quote(str(sshd.client_config))} --keepalive 1 " + shlex.quote(
            f"127.0.0.1:{path}"
        )
        tmux.start(tui_command(args))
        tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the remote run never showed")
        sshd.wait_connections()
        sshd.signal_connections(signal.SIGKILL)
        tmux.wait_for(
            lambda s: "connection to 127.0.0.1 lost" in s and "reconnected to 127.0.0.1" in s,
            "the drop and the reconnection never showed in the event log",
        )
        writer.do("log 1210")
        tmux.wait_for(lambda s: "step 1,210/2,000" in s, "nothing came after the kill")
        sshd.wait_connections()
        frozen = sshd.signal_connections(signal.SIGSTOP)
        writer.do("log 1220")
        tmux.wait_for(
            lambda s: s.count("connection to 127.0.0.1 lost") == 2,
            "the silent drop never showed in the event log",
        )
        tmux.wait_for(
            lambda s: "step 1,220/2,000" in s and s.count("reconnected to 127.0.0.1") == 2,
            "never reconnected after the freeze",
        )
        lines = len(decode_events(path))
        tmux.wait_for(lambda s: f" {lines:,} events" in s, "not exactly the file's events")
        tmux.keys("q")
        assert tmux.wait_exit() == 0
    finally:
        tmux.kill()
        writer.close()
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_leftovers(str(tmp_path))


@pytest.mark.asyncio
async def test_several_remote_runs_on_the_run_list(sshd: Sshd, tmp_path: Path) -> None:
    from _pilot import screen_text, shows

    from syllo_tui.app import make_app
    from syllo_tui.runs import select

    for name, step in (("x", 100), ("y", 300)):
        (tmp_path / name / "status").mkdir(parents=True)
        eventgen.mid_run(tmp_path / name / "status" / "events.jsonl", step=step).close()
    chosen = select(
        [f"127.0.0.1:{tmp_path / 'x' / 'status'}", f"127.0.0.1:{tmp_path / 'y' / 'status'}"]
    )
    assert [r.name for r in chosen.runs] == ["127.0.0.1:x", "127.0.0.1:y"]
    ssh = SshOptions(config=str(sshd.client_config), keepalive_s=1)
    app = make_app(chosen.runs, ssh=ssh, several=True)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await shows(
                pilot,
                lambda: "100/2,000" in screen_text(app) and "300/2,000" in screen_text(app),
                "both remote runs on the list",
            )
            assert all(r.source.connects == 1 for r in app.runs)  # type: ignore[attr-defined]
    finally:
        kill_leftovers(str(tmp_path))
