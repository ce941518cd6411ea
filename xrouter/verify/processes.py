"""Process bookkeeping for the code sandbox: wait without reaping, find and kill a run's processes
by process group or by uid (Linux ``/proc``)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time


def wait_exited(proc: subprocess.Popen, timeout_s: float) -> bool:
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
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _live(field: int, value: int) -> list[int]:
    """Pids whose ``/proc/<pid>/stat`` field (4: pgid) or real uid (field -1) is ``value``; no zombies."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if field < 0:
                with open(f"/proc/{entry}/status", "rb") as handle:
                    status = handle.read()
                if b"\nUid:\t" + str(value).encode() + b"\t" not in status or b"State:\tZ" in status:
                    continue
            else:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                if int(fields[2]) != value or fields[0] == b"Z":
                    continue
        except (OSError, IndexError):
            continue
        members.append(int(entry))
    return members


def live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (Linux ``/proc``; [] elsewhere)."""
    return _live(4, pgid)


def live_uid_members(uid: int) -> list[int]:
    """Pids of real uid ``uid`` that are not zombies (Linux ``/proc``)."""
    return _live(-1, uid)


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


def kill_uid(uid: int, grace_s: float = 2.0) -> bool:
    """SIGKILL every process of ``uid`` (a sandbox's own uid) until none is alive."""
    deadline = time.monotonic() + grace_s
    while True:
        pids = live_uid_members(uid)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
