"""Run an untrusted Python program in a limited subprocess and report how it ended.

What it does: ``sys.executable -I`` (isolated: no user site, no PYTHON* variables) in a fresh
temporary directory that is deleted afterwards; the environment is emptied except ``PATH`` (plus
``HOME``/``TMPDIR`` pointing into the temp dir and proxy variables pointing at a dead port);
``resource`` limits on address space, CPU seconds, file size, open files, process count and core
dumps (set in ``preexec_fn``); its own session (``start_new_session``) so that on timeout, and
after every run, the whole process group is killed with ``os.killpg``; a prelude that replaces
``socket.socket`` with a class that refuses to be created; stdout/stderr go to size-limited files.

What it is not: a security boundary.  A determined program can still reach the network through
``_socket`` internals or ``ctypes``, escape the process group with ``setsid``, read files the user
can read, and (as root, where ``RLIMIT_NPROC`` is ignored) fork without limit for up to the
timeout.  It stops accidents — infinite loops, runaway memory, stray files, forgotten children,
accidental network calls — in model-written code.  Use a container or VM for hostile code.

``preexec_fn`` is documented as unsafe in multi-threaded parents; here it only calls
``resource.setrlimit`` with precomputed values (no imports, no locks), which glibc's fork handlers
make safe in practice.
"""

from __future__ import annotations

import math
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
_PRELUDE = '''\
import socket as _socket_module, _socket as _raw_socket
class _NoNetworkSocket(_socket_module.socket):
    def __init__(self, *args, **kwargs):
        raise OSError(101, "network access is disabled in the xrouter verifier sandbox")
_socket_module.socket = _raw_socket.socket = _NoNetworkSocket
def _no_network(*args, **kwargs):
    raise OSError(101, "network access is disabled in the xrouter verifier sandbox")
_socket_module.create_connection = _socket_module.getaddrinfo = _no_network
del _socket_module, _raw_socket, _NoNetworkSocket, _no_network
'''
PRELUDE_LINES = _PRELUDE.count("\n")


@dataclass(frozen=True)
class RunResult:
    """How a sandboxed program ended. ``returncode`` < 0 means killed by that signal."""

    returncode: int | None
    timed_out: bool
    pid: int  # also the process group id
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    workdir: str  # already deleted when you read this

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def _limits(timeout_s: float, memory_bytes: int, file_bytes: int, max_processes: int, max_files: int):
    cpu = int(math.ceil(timeout_s)) + 1
    plan = [
        (resource.RLIMIT_AS, (memory_bytes, memory_bytes)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_FSIZE, (file_bytes, file_bytes)),
        (resource.RLIMIT_NOFILE, (max_files, max_files)),
        (resource.RLIMIT_NPROC, (max_processes, max_processes)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    setrlimit = resource.setrlimit

    def apply() -> None:  # runs in the child between fork and exec: keep it trivial
        for which, value in plan:
            try:
                setrlimit(which, value)
            except (ValueError, OSError):
                pass

    return apply


def _wait_exited(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait until ``proc`` exits, WITHOUT reaping it (its pid, hence its group id, stays ours)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(max(0.0, timeout_s) * 1000))
        finally:
            os.close(fd)
    deadline = time.monotonic() + timeout_s  # portable fallback: poll waitid(WNOWAIT)
    while True:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (Linux ``/proc``; [] elsewhere)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry))
    return members


def kill_group(pgid: int, grace_s: float = 2.0) -> bool:
    """SIGKILL the group and wait until none of it is alive (zombies are dead: PID 1 reaps them)."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return True
        if not live_group_members(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_program(
    program: str,
    timeout_s: float = 10.0,
    memory_bytes: int = 1 << 30,
    file_bytes: int = 16 << 20,
    max_processes: int = 64,
    max_files: int = 256,
) -> RunResult:
    """Run ``program`` (Python source) under the limits above; never runs it in this process."""
    with tempfile.TemporaryDirectory(prefix="xrouter-sandbox-") as root:
        work = Path(root) / "work"
        work.mkdir()
        script = Path(root) / "program.py"
        script.write_text(_PRELUDE + program, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "no_proxy": "", "NO_PROXY": ""}
        for var in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy"):
            env[var] = env[var.upper()] = _DEAD_PROXY
        out_path, err_path = Path(root) / "stdout.txt", Path(root) / "stderr.txt"
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, close_fds=True, start_new_session=True,
                preexec_fn=_limits(timeout_s, memory_bytes, file_bytes, max_processes, max_files),
            )
            try:
                exited = _wait_exited(proc, timeout_s)
            finally:
                try:  # the main process is exited-but-unreaped (or still running): its group is ours
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
                kill_group(proc.pid)  # children that outlived the main process, until they are gone
        return RunResult(
            returncode=None if not exited else proc.returncode,
            timed_out=not exited,
            pid=proc.pid,
            duration_s=time.monotonic() - started,
            stdout_tail=_tail(out_path),
            stderr_tail=_tail(err_path),
            workdir=str(work),
        )
