"""Splitting a reproduction over processes and machines with no coordinator: shards and run claims.

`--shard K/N` keeps every N-th run of the plan starting at the K-th (K from 0), so a Slurm
array `--array=0-(N-1)` passes `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`.

Before training, a process claims the run's folder by hard-linking a finished file holding
{host, pid, process start, token} to `RUN/claim.json`: link(2) fails if the name exists, on
local disks and NFS alike, so exactly one process wins and nobody reads a half-written
claim. The owner removes it when the run ends or stops. A claim left by a dead process is
taken over only by a process on the same host (only there can it tell the owner is gone:
no such pid, or the pid now belongs to a process started at another time), under an
exclusive flock so two such processes cannot both take it. A claim from another host is
never taken: delete RUN/claim.json by hand once that process is known to be gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.errors import UsageError

CLAIM_FILE = "claim.json"


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N) with 0 <= K < N."""
    usage = (
        "--shard must be K/N with whole numbers 0 <= K < N (K counts from 0, as Slurm's "
        f"--array=0-(N-1) does: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT), got {text!r}."
    )
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(usage)
    k, n = int(parts[0]), int(parts[1])
    if n < 1 or k >= n:
        raise UsageError(usage)
    return k, n


def shard_indices(count: int, shard: tuple[int, int] | None) -> list[int]:
    """The plan positions of shard (K, N): K, K + N, K + 2N, ...; all of them without a shard."""
    if shard is None:
        return list(range(count))
    k, n = shard
    return list(range(k, count, n))


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after "(comm)" start at field 3


def _owner() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "token": secrets.token_hex(8),
    }


def read_claim(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / CLAIM_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # unreadable: treated as held by someone else, never taken over


def is_stale(claim: dict[str, Any]) -> bool:
    """True only for a claim of this host whose process is gone."""
    if claim.get("host") != socket.gethostname() or not isinstance(claim.get("pid"), int):
        return False
    try:
        os.kill(claim["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    start = claim.get("process_start")
    return start is not None and _process_start(claim["pid"]) not in (None, start)


@dataclass(frozen=True)
class Claim:
    """A held claim on a run folder; `release` gives it up."""

    run_dir: Path
    owner: dict[str, Any]

    def release(self) -> None:
        if read_claim(self.run_dir) == self.owner:
            (self.run_dir / CLAIM_FILE).unlink(missing_ok=True)


def _link_claim(run_dir: Path, owner: dict[str, Any]) -> bool:
    tmp = run_dir / f".claim.{owner['token']}.tmp"
    tmp.write_text(json.dumps(owner), encoding="utf-8")
    try:
        os.link(tmp, run_dir / CLAIM_FILE)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system (some FUSE or SMB mounts): O_EXCL instead
        try:
            fd = os.open(run_dir / CLAIM_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # a reader meanwhile sees it unreadable: held
            f.write(json.dumps(owner))
        return True
    finally:
        tmp.unlink(missing_ok=True)


def claim(run_dir: Path | str) -> Claim | None:
    """Claim `run_dir` for this process; None if another live process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    owner = _owner()
    if _link_claim(run_dir, owner):
        return Claim(run_dir, owner)
    held = read_claim(run_dir)
    if held is None:  # released between our link and our read: try once more
        return Claim(run_dir, owner) if _link_claim(run_dir, owner) else None
    if not is_stale(held):
        return None
    with open(run_dir / ".claim.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if read_claim(run_dir) != held:  # another process took it over first
            return None
        (run_dir / CLAIM_FILE).unlink()
        return Claim(run_dir, owner) if _link_claim(run_dir, owner) else None


def holder(run_dir: Path) -> str | None:
    """ "host pid N" of a live claim on `run_dir`; None if unclaimed or stale."""
    held = read_claim(run_dir)
    if held is None or is_stale(held):
        return None
    return f"{held.get('host', '?')} pid {held.get('pid', '?')}"
