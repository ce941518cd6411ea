"""What besides a run's command and seed decides its float rounding on CPU, recorded in ``result.json``: the thread
count, torch's version and the SIMD kernels it dispatches to, and the processor.  Two runs of one command agree to
the bit only where these agree: another processor can round a query vector differently by ~1e-7, enough to move a
sampled choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_environment() -> dict[str, Any]:
    """``threads`` and ``machine`` (processor, torch's version, the SIMD level torch dispatches to)."""
    import platform

    import torch

    processor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # the first core's name, family and model: a name alone can hide the generation
        fields: dict[str, str] = {}
        for line in cpuinfo.read_text().split("\n\n", 1)[0].splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "model name" in fields:
            processor = (
                f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"
            )
    return {
        "threads": torch.get_num_threads(),
        "machine": {
            "processor": processor,
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
    }
