"""A real OpenSSH server on 127.0.0.1 for the remote-run tests, started by the test itself.

``Sshd.start(tmp)`` installs openssh-server when it is missing (as root, with
apt-get; a policy-rc.d keeps the package from starting the system's own
server), makes a host key and a user key, writes an sshd_config that listens
on 127.0.0.1 only, on a free port, and accepts only that key, and a client
ssh_config for ``127.0.0.1``. When the machine cannot run sshd it raises
``Unavailable`` with the reason; the tests then skip and record it in
``test-artifacts/skipped.txt``, which ``.ci/run`` prints.

``connection_processes()`` are the sshd processes serving the current
connections (the listener's descendants): a test kills them (the connection
drops) or stops them (it goes silent).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
from _support import WAIT_S

SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd")
POLICY = Path("/usr/sbin/policy-rc.d")


class Unavailable(Exception):
    """sshd cannot run here; the message says why."""


def _sshd_binary() -> str | None:
    return next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), shutil.which("sshd"))


def _install() -> str:
    """Install openssh-server with apt-get (root only); the path of sshd."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable("sshd is not installed and apt-get cannot run here (not root)")
    wrote_policy = not POLICY.exists()
    if wrote_policy:  # the package must not start the system's sshd (on every address)
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openssh-server"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, env=env)
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        raise Unavailable("apt-get install openssh-server took over 10 minutes") from None
    finally:
        if wrote_policy:
            POLICY.unlink(missing_ok=True)
    path = _sshd_binary()
    if done.returncode != 0 or path is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"apt-get install openssh-server failed: {tail[0]}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )


class Sshd:
    """One sshd on 127.0.0.1 (its own config, keys and port), and the client config to reach it."""

    def __init__(self, tmp: Path, binary: str) -> None:
        self.dir = tmp / "sshd"
        self.dir.mkdir()
        self.port = _free_port()
        self.user = getpass.getuser()
        host_key, user_key = self.dir / "host_key", self.dir / "user_key"
        _keygen(host_key)
        _keygen(user_key)
        (self.dir / "authorized_keys").write_text(Path(f"{user_key}.pub").read_text())
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {host_key}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AllowUsers {self.user}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "LogLevel VERBOSE\n"
        )
        self.client_config = self.dir / "ssh_config"
        self.client_config.write_text(
            "Host 127.0.0.1\n"
            f"  Port {self.port}\n"
            f"  User {self.user}\n"
            f"  IdentityFile {user_key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  StrictHostKeyChecking accept-new\n"
            "  LogLevel ERROR\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
        self.log = self.dir / "sshd.log"
        self._log = open(self.log, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_listening()

    @classmethod
    def start(cls, tmp: Path) -> Sshd:
        binary = _sshd_binary() or _install()
        if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
            raise Unavailable("the ssh client (ssh, ssh-keygen) is not installed")
        return cls(tmp, binary)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(
                    f"sshd exited with status {self.proc.returncode}: "
                    f"{self.log.read_text(errors='replace').strip()[-300:]}"
                )
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise Unavailable("sshd never listened on 127.0.0.1")

    def ssh(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command through this server (checks that logging in works)."""
        return subprocess.run(
            ["ssh", "-F", str(self.client_config), "-o", "BatchMode=yes", "127.0.0.1", *command],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            stdin=subprocess.DEVNULL,
        )

    def connection_processes(self) -> list[psutil.Process]:
        """The sshd processes serving connections now (the listener's sshd descendants)."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for p in children:
            try:
                if p.name() == "sshd" or "sshd" in " ".join(p.cmdline()[:1]):
                    out.append(p)
            except psutil.NoSuchProcess:
                continue
        return out

    def wait_connections(self, at_least: int = 1) -> list[psutil.Process]:
        """Wait for a connection being served (its sshd processes)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            procs = self.connection_processes()
            if len(procs) >= at_least:
                return procs
            time.sleep(0.05)
        raise AssertionError("no ssh connection came to the test's sshd")

    def signal_connections(self, sig: int) -> list[int]:
        """Send ``sig`` to every sshd process of the current connections; their pids."""
        pids = []
        for p in self.connection_processes():
            try:
                p.send_signal(sig)
                pids.append(p.pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def stop(self) -> None:
        """End the server and everything it started (stopped ones are killed too)."""
        try:
            everything = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            everything = []
        self.proc.kill()
        self.proc.wait(WAIT_S)
        for p in everything:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        self._log.close()


def record_skip(reason: str) -> None:
    """Note a skipped remote test where .ci/run prints it."""
    root = Path(
        os.environ.get("SYLLO_TEST_ARTIFACTS") or Path(__file__).parents[1] / "test-artifacts"
    )
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "skipped.txt", "a") as fh:
        fh.write(f"remote (ssh) tests skipped: {reason}\n")


def kill_leftovers(marker: str) -> None:
    """Kill the processes whose command line holds ``marker`` (the remote scripts a test started)."""
    me = os.getpid()
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.pid != me and marker in " ".join(p.info["cmdline"] or []):
                p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
