"""Run an untrusted Python program in an isolated subprocess and report how it ended.

Guarantees, by isolation level (``isolation_level()``; ``XROUTER_SANDBOX=namespaces|uid|basic``
forces a weaker one, for tests):

* ``namespaces`` (root and a working ``unshare`` from util-linux: the default on our machines and CI).
  The program runs under ``unshare --net --pid --mount --ipc --uts --fork --kill-child --mount-proc``:
  no network (a network namespace whose only interface, loopback, is down: 127.0.0.1 is unreachable,
  from subprocesses and ``ctypes`` too; Unix sockets on the filesystem stay reachable where their
  permissions let any user in); its own PID namespace (it sees only its own processes, so no
  ``/proc/<ppid>/environ``; when the harness, PID 1, exits the kernel kills every process in it,
  ``setsid`` children included); every mount read-only but its temp work directory (so it writes
  there only, ``/tmp`` and ``/dev/shm`` included, and root could not write elsewhere either); and
  it runs as a fresh uid of its own (random, above 2**20; no groups, no capabilities,
  ``no_new_privs``), so ``RLIMIT_NPROC`` holds (it does not for root) and it cannot undo the mounts.
  A directory on the way to the interpreter that others may not enter (``/root`` for a pyenv
  Python) is covered, inside the namespace, by a tmpfs holding only the interpreter's directories.
* ``uid`` (root without namespaces): the same uid drop (process limit holds, root-owned files and
  other processes' ``/proc/*/environ`` unreadable) and every process of that uid is killed at the end
  (``setsid`` children too); but the network is refused only by the Python-level socket prelude (a
  subprocess such as ``curl`` or raw ``ctypes`` sockets still reach the network) and world-writable
  directories (``/tmp``, ``/dev/shm``) stay writable.  It needs an interpreter that other users may
  read (``level_works`` probes it: not so for a pyenv Python under root's home, as here).
* ``basic`` (not root): rlimits, the socket prelude, process-group kill.  Same uid as the calling
  process: it can read that process's ``/proc/<pid>/environ`` (its direct parent, the harness, holds
  only the sandbox's environment), write what the user can, and a ``setsid`` child escapes the
  group kill.  Use a container for hostile code there.

Below ``namespaces``, Python-level sockets refuse to be created ("network access is disabled").
In every level: ``sys.executable -I`` in a fresh temp directory deleted afterwards; the environment
is emptied but ``PATH`` (``HOME``/``TMPDIR`` point into the work dir, proxies at a dead port);
``resource`` limits on address space, CPU seconds, file size, open files, processes and core
dumps; stdout/stderr go to size-limited files; the program's parent is the harness, started
with that empty environment (it holds no secrets).  A pass needs exit status 0 **and** a per-run random nonce that the
harness (``sandbox_harness.py``) prints only after the program's code (its tests come last) ran to
its end: ``os._exit(0)`` or ``sys.exit(0)`` before the asserts do not pass.  The nonce is not in the
program's file or environment; a program that searches its own interpreter's memory (frames) could
still find it: the sentinel stops early exits, not deliberate introspection.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from xrouter.verify.processes import (  # noqa: F401 (re-exported)
    kill_group,
    kill_uid,
    live_group_members,
    live_uid_members,
    wait_exited,
)

HARNESS = Path(__file__).with_name("sandbox_harness.py")
LEVELS = ("namespaces", "uid", "basic")
UNSHARE_FLAGS = ("--net", "--pid", "--mount", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc")
_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
PROBE_PROGRAM = "import fractions, json\nprint(float(fractions.Fraction(1, 2)))\nassert json.loads('[1]') == [1]\n"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """How a sandboxed program ended. ``returncode`` < 0 means killed by that signal; ``completed``:
    the harness's nonce was printed (the program's code ran to its end)."""

    returncode: int | None
    timed_out: bool
    pid: int  # also the process group id
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    workdir: str  # already deleted when you read this
    completed: bool = False
    isolation: str = "basic"

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.completed


@functools.cache
def _probe_namespaces() -> bool:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None or not sys.platform.startswith("linux"):
        return False
    try:
        return subprocess.run([unshare, *UNSHARE_FLAGS, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def level_works(level: str) -> bool:
    """Whether a real program (stdlib imports, an assert, the nonce) passes under ``level`` here; e.g.
    ``uid`` needs an interpreter that other users may read (not one under root's 0700 home)."""
    if level == "basic":
        return True
    if (level == "namespaces" and not _probe_namespaces()) or os.geteuid() != 0:
        return False
    result = _run(PROBE_PROGRAM, level, 30.0, 1 << 30, 16 << 20, 64, 256)
    if result.passed and result.stdout_tail.strip() == "0.5":
        return True
    log.warning(
        "code sandbox: isolation level %r does not work here (%s); a weaker one is used",
        level,
        (result.stderr_tail.strip().splitlines() or [f"exit status {result.returncode}"])[-1][:200],
    )
    return False


def isolation_level() -> str:
    """The strongest level that works here, at most the one ``XROUTER_SANDBOX`` asks for."""
    wanted = os.environ.get("XROUTER_SANDBOX", "").strip().lower() or LEVELS[0]
    if wanted not in LEVELS:
        raise ValueError(f"XROUTER_SANDBOX={wanted!r}: use one of {', '.join(LEVELS)}")
    return next(level for level in LEVELS[LEVELS.index(wanted) :] if level_works(level))


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


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _completed(path: Path, nonce: bytes) -> tuple[bool, str]:
    """Whether stdout holds the nonce line, and the stdout tail without it."""
    try:
        data = path.read_bytes()
    except OSError:
        return False, ""
    marker = b"\n" + nonce + b"\n"
    found = data.rfind(marker)
    if found >= 0:
        data = data[:found] + data[found + len(marker) :]
    return found >= 0, data[-4000:].decode("utf-8", "replace")


def _command(level: str, work: Path, uid: int, status_fd: int, script: Path) -> list[str]:
    harness = [
        sys.executable,
        "-I",
        str(HARNESS),
        str(work),
        str(uid),
        str(status_fd),
        "1" if level == "namespaces" else "0",
        str(script),
    ]
    return [shutil.which("unshare") or "unshare", *UNSHARE_FLAGS, "--", *harness] if level == "namespaces" else harness


def run_program(
    program: str,
    timeout_s: float = 10.0,
    memory_bytes: int = 1 << 30,
    file_bytes: int = 16 << 20,
    max_processes: int = 64,
    max_files: int = 256,
) -> RunResult:
    """Run ``program`` (Python source) isolated as described above; never runs it in this process."""
    return _run(program, isolation_level(), timeout_s, memory_bytes, file_bytes, max_processes, max_files)


def _run(
    program: str, level: str, timeout_s: float, memory_bytes: int, file_bytes: int, max_processes: int, max_files: int
) -> RunResult:
    uid = random.SystemRandom().randrange(1 << 20, 1 << 30) if level != "basic" else os.getuid()
    nonce = secrets.token_hex(16).encode()
    with tempfile.TemporaryDirectory(prefix="xrouter-sandbox-") as root:
        os.chmod(root, 0o711)  # the program's uid may pass through to work/, not list or read the rest
        work = Path(root) / "work"
        work.mkdir()
        if level != "basic":
            os.chown(work, uid, uid)
        script = Path(root) / "program.py"
        script.write_text(program, encoding="utf-8")
        os.chmod(script, 0o600)  # read by the harness before it drops privileges
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "TMPDIR": str(work),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "no_proxy": "",
            "NO_PROXY": "",
        }
        for var in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy"):
            env[var] = env[var.upper()] = _DEAD_PROXY
        out_path, err_path = Path(root) / "stdout.txt", Path(root) / "stderr.txt"
        status_read, status_write = os.pipe()
        started = time.monotonic()
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    _command(level, work, uid, status_write, script),
                    cwd=work,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    close_fds=True,
                    pass_fds=(status_write,),
                    start_new_session=True,
                    preexec_fn=_limits(timeout_s, memory_bytes, file_bytes, max_processes, max_files),
                )
                os.close(status_write)
                status_write = -1
                try:
                    proc.stdin.write(nonce + b"\n")
                    proc.stdin.close()
                except OSError:  # it died at once; its status says how
                    pass
                try:
                    exited = wait_exited(proc, timeout_s)
                finally:
                    try:  # the main process is exited-but-unreaped (or still running): its group is ours
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                    proc.wait()
                    kill_group(proc.pid)  # children that outlived the main process, until they are gone
                    if level == "uid":  # without a PID namespace: anything of the run's uid, wherever it went
                        kill_uid(uid)
            status = os.read(status_read, 64)
        finally:
            os.close(status_read)
            if status_write >= 0:
                os.close(status_write)
        returncode = None
        if exited:
            returncode = proc.returncode
            if status.strip().isdigit():  # the harness's report of the program's own wait status
                returncode = os.waitstatus_to_exitcode(int(status))
            elif returncode == 0:
                returncode = 125  # the harness ended without a report: set-up failed
        completed, stdout_tail = _completed(out_path, nonce)
        return RunResult(
            returncode=returncode,
            timed_out=not exited,
            pid=proc.pid,
            duration_s=time.monotonic() - started,
            stdout_tail=stdout_tail,
            stderr_tail=_tail(err_path),
            workdir=str(work),
            completed=completed and exited,
            isolation=level,
        )
