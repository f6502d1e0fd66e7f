"""A run on another machine: ``syllo-tui HOST:PATH`` through the system ``ssh`` client.

No UI import. ``RemoteTail`` has the same ``poll()`` as a local file. A
thread runs ``ssh HOST sh -c SCRIPT`` (the user's keys, agent, ~/.ssh/config,
jump hosts and ControlMaster all apply; the remote side needs only ``sh``,
``tail`` and the usual ``ls``, ``wc``, ``od``, ``head``); the script answers
with one header line, then the file's bytes from the offset asked for.

Reconnection: when ssh ends (the connection dropped, or SSH keepalives found
it silent: ``ServerAliveInterval`` × ``ServerAliveCountMax``), the thread
waits a back-off (``BACKOFF_S``) and asks again from the end of the last
complete line it received, with the file's inode and the 32 bytes before that
offset. The script resumes there when they still match, so no line comes
twice and none is missed; when the file was truncated or replaced it sends
the new file's tail instead and says so (a reset, as for a local file). While
following, the script itself notices a replaced or truncated file and ends
(status 3), which reconnects at once.
"""

from __future__ import annotations

import queue
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from syllo_tui.ndjson import DEFAULT_MAX_LINE_BYTES, LineParser, ParsedCounts, ReadResult

#: Seconds between two reconnection attempts, then the last one over and over.
BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

#: Default ``ServerAliveInterval``; ssh gives up after ``ALIVE_COUNT`` unanswered ones.
DEFAULT_KEEPALIVE_S = 5
ALIVE_COUNT = 3

#: How much of a file's end a first connection (or a replaced file) sends.
TAIL_BYTES = 4 << 20

#: The events file in a remote folder, and the path ``HOST:`` alone means.
EVENTS_NAME = "events.jsonl"
DEFAULT_PATH = "status/events.jsonl"

_MARK = 32  # bytes before the resume offset that must still be there

# The remote side. Arguments: path, offset, inode ("-": none yet), mark (hex), tail bytes.
# Output: "SYLLO1 wait" while the file does not exist, then
# "SYLLO1 <inode> <from> <reset 0|1> <skip 0|1>" and the bytes from offset <from>
# (skip: drop them up to the first newline, the end of a line cut by the tail).
# It ends with status 3 when the file is replaced or shrinks under it.
_SCRIPT = r"""
f=$1; off=$2; ino=$3; mark=$4; tb=$5
[ -d "$f" ] && f="$f/EVENTS"
if [ ! -e "$f" ]; then
  echo "SYLLO1 wait"
  while [ ! -e "$f" ]; do sleep 1; done
fi
set -- $(ls -Lid -- "$f"); cur=$1
size=$(wc -c < "$f"); size=$((size))
from=""; reset=0; skip=0
if [ "$cur" = "$ino" ] && [ "$size" -ge "$off" ]; then
  if [ "$off" -eq 0 ]; then from=0
  else
    n=32; [ "$off" -lt 32 ] && n=$off
    got=$(tail -c +$((off - n + 1)) -- "$f" | head -c "$n" | od -An -v -tx1 | tr -d ' \n')
    [ "$got" = "$mark" ] && from=$off
  fi
fi
if [ -z "$from" ]; then
  [ "$ino" = "-" ] || reset=1
  from=$((size - tb)); [ "$from" -lt 0 ] && from=0
  [ "$from" -gt 0 ] && { from=$((from - 1)); skip=1; }
fi
echo "SYLLO1 $cur $from $reset $skip"
tail -c +$((from + 1)) -f -- "$f" &
t=$!
trap 'kill $t 2>/dev/null' EXIT HUP INT TERM
last=$size
while kill -0 $t 2>/dev/null; do
  sleep 1
  now=$(ls -Lid -- "$f" 2>/dev/null) || now=""
  set -- $now
  sz=$(wc -c < "$f" 2>/dev/null) || sz=0
  sz=$((sz))
  if [ "${1:-}" != "$cur" ] || [ "$sz" -lt "$last" ]; then kill $t 2>/dev/null; exit 3; fi
  last=$sz
done
""".replace("EVENTS", EVENTS_NAME)

_CHANGED = 3  # the script's status when the file was replaced or truncated


@dataclass(frozen=True)
class Remote:
    """``[user@]host:path``, as scp reads it."""

    host: str  # with the user, as given: ssh takes it as it is
    path: str

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


_BRACKETED = re.compile(r"^((?:[^@/:\[\]]+@)?\[[^\]/]+\]):(.*)$")
_PLAIN = re.compile(r"^((?:[^@/:]+@)?[^@/:\[\]]+):(.*)$")


def parse_remote(arg: str) -> Remote | None:
    """``HOST:PATH`` or ``user@host:path`` (``[v6::addr]:path`` too), or None for a local path.

    scp's rules: a colon before any slash makes a remote; ``./a:b`` or
    ``/x/a:b`` is local. An existing local path always wins (checked here),
    so a local file named ``a:b`` is read as a file. ``HOST:`` alone means
    ``status/events.jsonl`` in the remote home.
    """
    if arg == "-" or Path(arg).exists():
        return None
    m = _BRACKETED.match(arg) or _PLAIN.match(arg)
    if m is None:
        return None
    host, path = m.group(1), m.group(2)
    if not host or host.endswith("@"):
        return None
    return Remote(host, path or DEFAULT_PATH)


@dataclass
class SshOptions:
    """How to run ``ssh``: the client on PATH, an optional config file, keepalives."""

    command: str = "ssh"
    config: str | None = None  # -F FILE (a test's own ssh_config)
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    extra: list[str] = field(default_factory=list)

    def argv(self, remote: Remote, remote_command: str) -> list[str]:
        argv = [self.command]
        if self.config:
            argv += ["-F", self.config]
        argv += [
            "-T",  # no terminal: the events are bytes, the keyboard belongs to the monitor
            "-o", "BatchMode=yes",  # never prompt (there is no terminal to prompt on)
            "-o", f"ServerAliveInterval={self.keepalive_s}",
            "-o", f"ServerAliveCountMax={ALIVE_COUNT}",
            "-o", "ConnectTimeout=20",
            *self.extra,
            remote.host,
            remote_command,
        ]  # fmt: skip
        return argv

    @property
    def silent_drop_s(self) -> int:
        """The longest a silent connection lasts before ssh gives up on it."""
        return self.keepalive_s * (ALIVE_COUNT + 1)


class RemoteTail(ParsedCounts):
    """Follows ``HOST:PATH`` over ssh, reconnecting; the same ``poll()`` as ``EventTail``.

    ``note`` says what the connection is doing when it is not simply
    following (connecting, waiting for the file, lost and reconnecting), for
    the status line.
    """

    def __init__(
        self,
        remote: Remote,
        ssh: SshOptions | None = None,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        chunk_bytes: int = 64 << 10,
    ) -> None:
        self.remote = remote
        self.path = str(remote)
        self.ssh = ssh or SshOptions()
        self._parser = LineParser(max_line_bytes)
        self._chunk_bytes = chunk_bytes
        # Bounded: if the UI falls behind, ssh (and the remote tail) wait.
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=256)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        # The reader thread's view of the file (what a reconnection asks for).
        self._inode = "-"
        self._offset = 0  # end of the last complete line received
        self._recent = b""  # the last _MARK bytes received
        self._mark = b""  # the _MARK bytes before _offset
        self.connects = 0  # connections that got their header (tests and the note)
        self.resets = 0
        self._state = "connecting"
        self._lost_at: float | None = None
        self._last_data: float | None = None
        self._retry_at: float | None = None
        self._attempt = 0
        self._why = ""
        self._notes: list[str] = []  # for the event log: the connection lost, or back
        self._thread = threading.Thread(target=self._run, name="syllo-ssh", daemon=True)
        self._thread.start()

    # -- what the monitor reads ----------------------------------------------------

    @property
    def note(self) -> str | None:
        """The connection's state for the status line; None while following normally."""
        with self._lock:
            state, why, attempt = self._state, self._why, self._attempt
            lost, retry, last = self._lost_at, self._retry_at, self._last_data
        if state == "following":
            return None
        if state == "connecting":
            return f"connecting to {self.remote.host}…"
        if state == "waiting":
            return f"waiting for {self.remote} to exist"
        now = time.monotonic()
        bits = [f"connection to {self.remote.host} lost"]
        if lost is not None:
            bits[0] += f" {now - lost:.0f}s ago"
        if why:
            bits[0] += f" ({why})"
        if last is not None:
            bits.append(f"last data {now - last:.0f}s ago")
        wait = f" in {max(0.0, retry - now):.0f}s" if retry is not None and retry > now else ""
        bits.append(f"reconnecting{wait} (attempt {attempt})…")
        return "; ".join(bits)

    def poll(self, max_bytes: int = 4 << 20) -> ReadResult:
        """The events of the lines completed since the last poll; never blocks."""
        if self._closed.is_set():
            return ReadResult()
        events = []
        reset = False
        before = self._parser.malformed_total
        got = 0
        while got < max_bytes:
            try:
                kind, data = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "data":
                events += self._parser.feed(data)
                got += len(data)
            elif kind == "resume":
                self._parser.reset()  # the partial line comes again, whole
            elif kind == "reset":
                self._parser.reset()
                events, reset = [], True  # what came before belongs to the old file
        with self._lock:
            notes, self._notes = self._notes, []
        return ReadResult(
            events=events,
            reset=reset,
            malformed=self._parser.malformed_total - before,
            more=got >= max_bytes,
            notes=notes,
        )

    def close(self) -> None:
        """Stop: end ssh, and deliver nothing more."""
        self._closed.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def __enter__(self) -> RemoteTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the reader thread -----------------------------------------------------------

    def _set(self, state: str, **fields: object) -> None:
        with self._lock:
            self._state = state
            for name, value in fields.items():
                setattr(self, f"_{name}", value)

    def _put(self, item: tuple[str, bytes]) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _remote_command(self) -> str:
        args = [
            self.remote.path,
            str(self._offset),
            self._inode,
            self._mark.hex() or "-",
            str(TAIL_BYTES),
        ]
        return " ".join(["sh", "-c", shlex.quote(_SCRIPT), "syllo", *map(shlex.quote, args)])

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            status, why, connected = self._connect_once()
            if self._closed.is_set():
                return
            if connected:
                failures = 0
            if status == _CHANGED:
                continue  # the file was replaced or truncated: ask again at once
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            now = time.monotonic()
            with self._lock:
                if connected:
                    self._notes.append(f"connection to {self.remote.host} lost ({why})")
                self._state = "lost"
                self._why = why
                self._attempt = failures
                self._retry_at = now + delay
                if connected or self._lost_at is None:
                    self._lost_at = now
            self._closed.wait(delay)

    def _connect_once(self) -> tuple[int | None, str, bool]:
        """One ssh connection, read to its end: (exit status, why it ended, got a header)."""
        argv = self.ssh.argv(self.remote, self._remote_command())
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,  # never the terminal: the monitor reads the keys
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,  # never the monitor's stderr: Textual draws there
            )
        except OSError as exc:
            return None, f"cannot run {self.ssh.command}: {exc.strerror or exc}", False
        with self._lock:
            self._proc = proc
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True)
        drain.start()
        connected = False
        try:
            assert proc.stdout is not None
            connected = self._read(proc.stdout)
        finally:
            try:  # the output ended: ssh says why as it exits
                proc.wait(timeout=0 if self._closed.is_set() else 5)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                proc.kill()
            status = proc.wait()
            drain.join(5)
            with self._lock:
                self._proc = None
        lines = [e.decode("utf-8", "replace").strip() for e in errors if e.strip()]
        why = lines[-1] if lines else f"ssh exited with status {status}"
        return status, why, connected

    def _read(self, out: object) -> bool:
        """Read the header, then the bytes; True once a header came."""
        read = getattr(out, "read1", None) or out.read  # type: ignore[attr-defined]
        buf = b""
        header: list[str] | None = None
        while header is None:
            chunk = read(self._chunk_bytes)
            if not chunk:
                return False
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.startswith(b"SYLLO1 "):
                    continue  # a login script's chatter before the header
                fields = line.decode("ascii", "replace").split()
                if fields[1:] == ["wait"]:
                    self._set("waiting")
                    continue
                header = fields
                break
        _, inode, start, reset, skip = header[:5]
        with self._lock:
            self.connects += 1
            if reset == "1":
                self._notes.append(
                    f"{self.remote} was replaced or truncated: reading the new file from its tail"
                )
            elif self.connects > 1:
                self._notes.append(
                    f"reconnected to {self.remote.host}: resumed at byte {int(start):,}"
                )
        if reset == "1":
            self.resets += 1
            if not self._put(("reset", b"")):
                return True
        elif self.connects > 1 and not self._put(("resume", b"")):
            return True
        self._inode = inode
        pos = int(start)
        if reset == "1" or pos != self._offset:
            self._recent = b""
        self._set("following", lost_at=None, retry_at=None, why="", attempt=0)
        dropping = skip == "1"
        data = buf
        while True:
            if data:
                if dropping:
                    cut = data.find(b"\n")
                    if cut < 0:
                        pos += len(data)
                        data = b""
                    else:
                        pos += cut + 1
                        data = data[cut + 1 :]
                        dropping = False
                        self._offset, self._mark, self._recent = pos, b"", b""
                if data:
                    self._take(pos, data)
                    pos += len(data)
                    if not self._put(("data", data)):
                        return True
            data = read(self._chunk_bytes)
            if not data:
                return True

    def _take(self, pos: int, data: bytes) -> None:
        """Keep the resume point: the end of the last complete line, and the bytes before it."""
        last = data.rfind(b"\n")
        if last >= 0:
            self._offset = pos + last + 1
            self._mark = (self._recent + data[: last + 1])[-_MARK:]
        self._recent = (self._recent + data)[-_MARK:]
        with self._lock:
            self._last_data = time.monotonic()
