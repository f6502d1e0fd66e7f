"""One trainer per output folder: ``<folder>/trainer.lock``, held with ``flock``.

The lock is the kernel's ``flock`` on the file, not the file's existence: it
goes away with the last process that holds it, however that process dies, so
a PID file can never go stale behind our back. The file's *content* (pid,
host, start time, config) only says who holds it. A lock file whose flock is
free was left by a process that is gone: it is taken over with a message.

Holders, and how the lock moves between them (``SYLLO_LOCK`` env var):

* ``syllo-train run`` alone: the trainer acquires it and owns it.
* ``--supervise``: the supervisor owns it; each trainer it starts inherits the
  descriptor (``borrowed``), so a trainer orphaned by a dead supervisor still
  keeps a second trainer out of the folder.
* ``--detach``: the foreground command acquires it (so a refusal is reported
  where the user is looking), then hands it to the background supervisor
  (``owner``).

Only the owner unlinks the file; a borrower just closes its descriptor
(``LOCK_UN`` would drop the lock for every holder of the shared description).
Pure: stdlib only. ``flock`` works across hosts on NFS only where the server
supports it; docs/operations.md says so.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syllo_train import exitcodes
from syllo_train.inert import print_inert

LOCK_NAME = "trainer.lock"
LOCK_ENV = "SYLLO_LOCK"  # "owner:FD[,FD]" or "borrowed:FD[,FD]", set by syllo itself

Notify = Callable[[str], None]


def _stderr(text: str) -> None:
    print_inert(f"syllo-train: {text}")


class LockError(RuntimeError):
    """The lock cannot be taken as asked (exit code in ``exit_code``)."""

    exit_code = exitcodes.BAD_INPUT


class LockBusy(LockError):
    """Another live process holds the folder's lock."""

    exit_code = exitcodes.BUSY

    def __init__(self, message: str, holder: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.holder = holder


def pid_alive(pid: int | None) -> bool:
    """Does a process with this pid exist (on this host)?"""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists; it is someone else's
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A dead process its parent has not reaped yet (Linux: state Z in /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): trust kill(0)
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def describe(info: dict[str, Any] | None) -> str:
    """``pid 123 (supervisor) on host h, started 2025-01-02 03:04:05 (5 min ago), config cfg.toml``."""
    if not info:
        return "an unknown process (the lock file is empty or unreadable)"
    parts = [f"pid {info.get('pid')}"]
    if info.get("role"):
        parts[0] += f" ({info['role']})"
    if info.get("host"):
        parts.append(f"on host {info['host']}")
    started = info.get("started_at")
    if isinstance(started, (int, float)):
        ago = max(0.0, time.time() - started)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        parts.append(f"started {stamp} ({_ago(ago)} ago)")
    if info.get("config"):
        parts.append(f"config {info['config']}")
    return ", ".join(parts)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _parse(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_lock(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The lock file's content, or None when there is no lock file.

    A file caught mid-update (or garbage) reads as ``{}`` after a few tries.
    """
    path = Path(folder) / LOCK_NAME
    for _ in range(5):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        info = _parse(text)
        if info is not None:
            return info
        time.sleep(0.02)  # the holder rewrites in place: try again
    return {}


def lock_held(folder: str | os.PathLike[str]) -> bool | None:
    """Is ``<folder>/trainer.lock`` held by a live process? None when there is no lock file.

    Probes with a shared flock for an instant; an acquirer that collides with
    the probe retries (FolderLock.acquire), so the probe cannot cause a refusal.
    """
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class FolderLock:
    """The flock on one folder's ``trainer.lock``, and the descriptor that holds it."""

    def __init__(self, path: Path, fd: int, *, owner: bool) -> None:
        self.path = path
        self.fd: int | None = fd
        self.owner = owner  # only the owner removes the file on release

    @classmethod
    def acquire(
        cls,
        folder: str | os.PathLike[str],
        info: dict[str, Any],
        *,
        notify: Notify = _stderr,
        tries: int = 10,
        wait_s: float = 0.1,
    ) -> FolderLock:
        """Take the folder's lock and write ``info`` into it; raises LockBusy when a live process has it.

        A lock file whose flock is free is stale (its process is gone): it is
        taken over and ``notify`` says so.
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LockError(
                f"{folder}: cannot create the output folder ({exc.strerror}); choose a writable folder"
            ) from None
        path = folder / LOCK_NAME
        for attempt in range(tries):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockError(
                    f"{path}: cannot open the lock file ({exc.strerror}); choose a writable folder"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if attempt == tries - 1:
                    holder = read_lock(folder)
                    raise LockBusy(
                        f"{folder}/ is in use by another trainer: {describe(holder)}. "
                        f"Watch it with `syllo-train status {folder}`, stop it with `syllo-train stop {folder}`, "
                        "or give this run another output folder.",
                        holder,
                    ) from None
                time.sleep(wait_s)  # maybe a status probe or a releasing owner: try again
                continue
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):
                    raise LockError(
                        f"{path}: this filesystem does not support flock ({exc.strerror}); "
                        "put output.dir on a local disk"
                    ) from None
                raise
            # A releasing owner unlinks the file before letting go: if the path
            # names another file (or none) now, we locked a ghost; start over.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            lock = cls(path, fd, owner=True)
            old_text = _read_fd(fd)
            if old_text.strip():
                notify(_stale_message(path, _parse(old_text)))
            lock.write(info)
            return lock
        raise LockError(
            f"{path}: could not take the lock after {tries} tries (it keeps being replaced)"
        )

    @classmethod
    def adopt(cls, folder: str | os.PathLike[str], fd: int, *, owner: bool) -> FolderLock:
        """Take over an inherited descriptor that already holds this folder's lock."""
        path = Path(folder) / LOCK_NAME
        problem = None
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                problem = "it is another file"
            else:
                # Same open file description as the holder: this succeeds at once.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            problem = "another process holds the lock"
        except OSError as exc:
            problem = exc.strerror or str(exc)
        if problem:
            raise LockError(
                f"{LOCK_ENV}: descriptor {fd} is not a held lock on {path} ({problem}); "
                f"it is set by syllo itself — unset {LOCK_ENV} and start again"
            )
        return cls(path, fd, owner=owner)

    def read(self) -> dict[str, Any]:
        """The lock's current content ({} when unreadable)."""
        assert self.fd is not None, "lock released"
        return _parse(_read_fd(self.fd)) or {}

    def write(self, info: dict[str, Any]) -> None:
        """Replace the content in place (the inode must stay: it is what is locked)."""
        assert self.fd is not None, "lock released"
        data = (json.dumps(info, indent=2, default=str) + "\n").encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.ftruncate(self.fd, len(data))

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the content."""
        self.write({**self.read(), **fields})

    def release(self) -> None:
        """Let go: the owner removes the file first (so no one reads a dead holder), a borrower only closes."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if self.owner:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
        finally:
            os.close(fd)

    def handover(self) -> None:
        """Close our descriptor but keep the lock: a process that inherited it holds it now."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _stale_message(path: Path, old: dict[str, Any] | None) -> str:
    why = "that process is gone"
    if old and old.get("host") == socket.gethostname() and pid_alive(old.get("pid")):
        why = f"pid {old.get('pid')} exists but does not hold the lock (the pid was reused)"
    return f"removed a stale lock {path}, left by {describe(old)}: {why}"


def lock_info(
    role: str, config_path: str | os.PathLike[str] | None, **extra: Any
) -> dict[str, Any]:
    """The content a new holder writes: who, where, since when, with which config."""
    now = time.time()
    return {
        "pid": os.getpid(),
        "role": role,
        "host": socket.gethostname(),
        "started_at": round(now, 3),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "config": os.path.abspath(config_path) if config_path else None,
        "cwd": os.getcwd(),
        **extra,
    }


def run_folders(cfg: Any) -> list[Path]:
    """The folders one run writes to: ``output.dir`` first, then ``train.output_dir`` if it differs."""
    folders = [Path(cfg.output.dir)]
    ckpt = Path(cfg.train.output_dir)
    if ckpt.resolve() != folders[0].resolve():
        folders.append(ckpt)
    return folders


class RunLock:
    """The locks of one run: ``output.dir``'s first, then the checkpoint folder's (none on ranks > 0)."""

    def __init__(self, locks: list[FolderLock]) -> None:
        self.locks = locks

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(lk.fd for lk in self.locks if lk.fd is not None)

    @classmethod
    def acquire(
        cls,
        cfg: Any,
        *,
        role: str,
        config_path: str | os.PathLike[str] | None = None,
        notify: Notify = _stderr,
        **extra: Any,
    ) -> RunLock:
        """Lock every folder of the run, or none (raises LockBusy / LockError)."""
        taken: list[FolderLock] = []
        folders = run_folders(cfg)
        info = lock_info(role, config_path, folders=[str(f.resolve()) for f in folders], **extra)
        try:
            for folder in folders:
                taken.append(FolderLock.acquire(folder, info, notify=notify))
        except BaseException:
            for lk in taken:
                lk.release()
            raise
        return cls(taken)

    @classmethod
    def from_env(cls, cfg: Any) -> RunLock | None:
        """Adopt the descriptors named by ``SYLLO_LOCK`` (and drop the variable), or None when unset."""
        value = os.environ.pop(LOCK_ENV, "")
        if not value:
            return None
        role, _, fds_text = value.partition(":")
        folders = run_folders(cfg)
        try:
            fds = [int(x) for x in fds_text.split(",")]
        except ValueError:
            fds = []
        if role not in ("owner", "borrowed") or len(fds) != len(folders):
            raise LockError(
                f"{LOCK_ENV}={value!r} does not match this run's folders; unset {LOCK_ENV} and start again"
            )
        return cls(
            [
                FolderLock.adopt(f, fd, owner=role == "owner")
                for f, fd in zip(folders, fds, strict=True)
            ]
        )

    @classmethod
    def for_run(
        cls,
        cfg: Any,
        *,
        config_path: str | os.PathLike[str] | None = None,
        notify: Notify = _stderr,
    ) -> RunLock:
        """The trainer's lock: the one its supervisor lent it, else its own.

        Under torchrun only global rank 0 (the one writer) locks; the other
        ranks of the same run must not be refused.
        """
        if os.environ.get("RANK", "0") != "0":
            return cls([])
        inherited = cls.from_env(cfg)
        if inherited is not None:
            return inherited
        return cls.acquire(
            cfg, role="trainer", config_path=config_path, notify=notify, trainer_pid=os.getpid()
        )

    def env(self, role: str) -> dict[str, str]:
        """The environment that lends (``borrowed``) or hands over (``owner``) these locks to a child."""
        return {LOCK_ENV: f"{role}:" + ",".join(str(fd) for fd in self.fds)}

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into every lock file's content."""
        for lk in self.locks:
            lk.update(**fields)

    def release(self) -> None:
        for lk in reversed(self.locks):
            lk.release()

    def handover(self) -> None:
        for lk in self.locks:
            lk.handover()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
