"""The sandbox's in-child harness: run as a script (``python -I sandbox_harness.py ...``), never imported.

It is the first process of the sandbox (PID 1 of its PID namespace when namespaces are used).  It
reads the run's nonce from stdin, makes every mount of its private mount namespace read-only except
the work directory, then forks the program's process, which drops to the run's own unprivileged uid
(no groups, no capabilities, ``no_new_privs``), refuses Python-level sockets when there is no
network namespace, runs the program in a fresh ``__main__`` namespace and, only if the program's
code ran to its end (the tests are at its end), writes the nonce as the last line of stdout.  This process waits for it,
writes its wait status to the status file descriptor and exits, which (as PID 1) makes the kernel
kill every other process of the namespace.  It holds no secrets: its environment is the sandbox's.

argv: work_dir uid status_fd isolate(0/1) program_path
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # no typing import at run time: it would cost every sandboxed program ~4 ms
    from collections.abc import Iterable
    from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 38, 4
NETWORK_OFF = "network access is disabled in the xrouter verifier sandbox"


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _mount(
    libc: Any, source: str | None, target: str, flags: int, fstype: str | None = None, data: bytes | None = None
) -> None:
    import ctypes

    if (
        libc.mount(
            source.encode() if source else None, target.encode(), fstype.encode() if fstype else None, flags, data
        )
        != 0
    ):
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _closed_ancestor(path: str) -> str | None:
    """The highest directory on the way to ``path`` that other users may not enter, or None."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def expose_interpreter(libc: Any, paths: Iterable[str]) -> None:
    """Make the interpreter's own directories reachable by the unprivileged uid: a directory on their
    way that others cannot enter (``/root`` for a pyenv Python) is covered by an empty tmpfs holding
    only bind mounts of those directories, so the rest of it stays hidden."""
    plan = {}
    for path in sorted({os.path.realpath(p) for p in paths}):
        closed = _closed_ancestor(path)
        if closed is not None and closed != path:
            plan.setdefault(closed, []).append((path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    for closed, binds in plan.items():
        _mount(libc, "tmpfs", closed, 0, "tmpfs", b"mode=0755,size=64k")
        for path, fd in binds:
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", path, MS_BIND | MS_REC)
            os.close(fd)


def read_only_except(work: str, interpreter_paths: Iterable[str] = ()) -> None:
    """Remount every mount read-only (keeping nosuid/nodev/noexec, adding nosuid), then make the work
    directory a writable bind mount of its own.  Only in a private mount namespace."""
    libc = _libc()
    expose_interpreter(libc, interpreter_paths)
    _mount(libc, work, work, MS_BIND)  # its own mount first, so the read-only remount of / spares it
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split() for line in handle]
    seen = set()
    for fields in mounts:
        target = fields[4].replace("\\040", " ")
        if target in seen or target == work or target == "/proc" or target.startswith("/proc/"):
            continue
        seen.add(target)
        options = set(fields[5].split(","))
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
        flags |= (MS_NODEV if "nodev" in options else 0) | (MS_NOEXEC if "noexec" in options else 0)
        try:
            _mount(libc, None, target, flags)
        except OSError:  # a mount hidden under another one, or gone: its top mount is handled
            if os.path.ismount(target):
                raise


def drop_privileges(uid: int) -> None:
    """The run's own uid and gid, no supplementary groups, no capabilities, no way back (no_new_privs)."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError("prctl(PR_SET_NO_NEW_PRIVS) failed")
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self stays its own (setuid cleared it)


def refuse_network() -> None:
    """Without a network namespace: Python-level sockets refuse to be created, with a readable error
    (``ctypes`` or a subprocess can still get round it: the weaker levels say so)."""
    import _socket
    import socket as socket_module

    class NoNetworkSocket(socket_module.socket):
        def __init__(self, *args, **kwargs):
            raise OSError(101, NETWORK_OFF)

    def no_network(*args, **kwargs):
        raise OSError(101, NETWORK_OFF)

    socket_module.socket = _socket.socket = NoNetworkSocket
    socket_module.create_connection = socket_module.getaddrinfo = no_network


def run_program(source: str, nonce: bytes) -> None:
    """The program's process: compile and run the program as ``__main__``; the nonce only after it ran."""
    code = compile(source, "program.py", "exec")
    main = type(sys)("__main__")
    main.__dict__.update({"__file__": os.path.join(os.getcwd(), "program.py"), "__builtins__": __builtins__})
    sys.modules["__main__"] = main
    sys.argv = ["program.py"]
    me = os.getpid()
    exec(code, main.__dict__)
    if os.getpid() != me:  # a forked copy that fell through the program's end is no pass
        os._exit(0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a program may have closed or replaced it
            pass
    os.write(1, b"\n" + nonce + b"\n")


def main() -> None:
    work, uid, status_fd, isolate, path = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        sys.argv[4] == "1",
        sys.argv[5],
    )
    nonce = sys.stdin.buffer.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if isolate:
        read_only_except(
            work,
            [sys.base_prefix, sys.prefix, os.path.dirname(sys.executable), *(p for p in sys.path if os.path.isdir(p))],
        )
    pid = os.fork()
    if pid == 0:
        try:
            with open(path, encoding="utf-8") as handle:  # root-only: read before the privileges go
                source = handle.read()
            os.close(status_fd)
            drop_privileges(uid)
            os.chdir(work)
            if not isolate:  # in a network namespace there is no network to refuse (and socket costs ~10 ms)
                refuse_network()
        except BaseException as error:  # noqa: BLE001 - no run without its limits
            os.write(2, f"sandbox set-up failed: {error!r}\n".encode())
            os._exit(125)
        run_program(source, nonce)  # an exception propagates: traceback on stderr, exit status 1
        return
    while True:  # reap orphans too (as PID 1) until the program's process has ended
        try:
            ended, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = 255 << 8
            break
        if ended == pid:
            break
    os.write(status_fd, str(status).encode())
    os._exit(0)


if __name__ == "__main__":
    main()
