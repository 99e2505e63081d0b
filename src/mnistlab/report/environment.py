"""Where each number was made: a run's machine, threads and load, read from its own results.json.

Runs whose CPU model, speed flags, core count, torch version or device differ were made on
different machines; the report labels the machines M1, M2, ... and flags a row whose seeds
were pooled across machines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

UNKNOWN = "unknown"

# How the page names runtime.SPEED_FLAGS.
FLAG_NAMES = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_bf16": "AVX-512 BF16",
    "amx_bf16": "AMX BF16",
    "amx_tile": "AMX",
}

# The fields that name a machine; threads and load vary between runs on one machine.
MACHINE_FIELDS = ("cpu", "cpu_flags", "cpu_count", "torch", "device", "gpu")


def run_environment(results: Mapping[str, Any]) -> dict[str, Any]:
    """The environment of one run: its runtime record plus the load average at its end.

    Runs written before the runtime record existed read as "unknown".
    """
    runtime = results.get("runtime") or {}
    env = {
        "cpu": runtime.get("cpu", UNKNOWN),
        "cpu_flags": list(runtime.get("cpu_flags", [])),
        "cpu_count": runtime.get("cpu_count"),
        "threads": runtime.get("threads"),
        "torch": runtime.get("torch", UNKNOWN),
        "device": runtime.get("device", UNKNOWN),
        "load_average_start": runtime.get("load_average_start"),
        "load_average_end": results.get("load_average_end"),
    }
    if "gpu" in runtime:
        env["gpu"] = runtime["gpu"]
    env["loaded"] = is_loaded(env)
    return env


def machine_of(env: Mapping[str, Any]) -> dict[str, Any]:
    return {name: env.get(name) for name in MACHINE_FIELDS if name != "gpu" or "gpu" in env}


def is_loaded(env: Mapping[str, Any]) -> bool | None:
    """True if the 1-minute load average at the run's start or end exceeded its core count.

    Above the core count some runnable process had to wait for a core: the wall time is
    inflated (the accuracy is not: it depends only on the config and the thread count).
    None when the load or the core count was not recorded.
    """
    cores = env.get("cpu_count")
    loads = [pair[0] for pair in (env.get("load_average_start"), env.get("load_average_end")) if pair]
    if not cores or not loads:
        return None
    return max(loads) > cores


def describe_machine(machine: Mapping[str, Any]) -> str:
    """ "AMD EPYC, 2 cores, AVX2 + AVX-512 + AVX-512 BF16, torch 2.13.0+cpu, cpu"."""
    flags = " + ".join(FLAG_NAMES.get(f, f) for f in machine.get("cpu_flags") or []) or "no AVX2"
    cores = f"{machine['cpu_count']} cores" if machine.get("cpu_count") else "cores unknown"
    device = machine.get("device") or UNKNOWN
    if machine.get("gpu"):
        device = f"{device} ({machine['gpu']})"
    return f"{machine.get('cpu') or UNKNOWN}, {cores}, {flags}, torch {machine.get('torch') or UNKNOWN}, {device}"


def describe_load(env: Mapping[str, Any]) -> str:
    """ "threads 2, load 7.07 → 6.73 (loaded)": 1-minute load averages at start and end."""

    def first(pair: Sequence[float] | None) -> str:
        return f"{pair[0]:.2f}" if pair else "?"

    verdict = {True: " (loaded)", False: " (quiet)", None: ""}[env.get("loaded")]
    threads = env.get("threads")
    return (
        f"threads {threads if threads is not None else '?'}, load "
        f"{first(env.get('load_average_start'))} → {first(env.get('load_average_end'))}{verdict}"
    )


class Machines:
    """Labels M1, M2, ... for the distinct machines of a report, in order of first appearance."""

    def __init__(self) -> None:
        self.described: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple, str] = {}

    def label(self, env: Mapping[str, Any]) -> str:
        machine = machine_of(env)
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in machine.items())
        if key not in self._keys:
            self._keys[key] = f"M{len(self._keys) + 1}"
            self.described[self._keys[key]] = {**machine, "description": describe_machine(machine)}
        return self._keys[key]
