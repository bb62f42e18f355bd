"""CPU time of each process of a local stack (psutil), which a noisy shared machine cannot hide:
wall-clock rates move with the neighbours, CPU seconds per event much less."""

from __future__ import annotations

import os

import psutil

from local.stack import Stack


def _group_cpu(pgid: int) -> float:
    total = 0.0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            times = proc.cpu_times()
            total += times.user + times.system
        except (psutil.Error, ProcessLookupError):
            continue
    return total


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """User + system CPU seconds so far of every process group the stack started, by name
    (`fn-worker`, `pubsub`, ...); each group holds a function's or an emulator's whole process tree."""
    return {name: _group_cpu(proc.pid) for name, proc in stack.procs.items()}


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def report(spent_seconds: dict[str, float], items: int, unit: str, names: list[str]) -> str:
    parts = [f"{name} {spent_seconds.get(name, 0.0) / items * 1e6:,.0f} µs" for name in names]
    return f"CPU per {unit}: " + ", ".join(parts)
