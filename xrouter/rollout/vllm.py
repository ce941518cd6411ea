"""vLLM rollouts (GPU only, ``pip install -e ".[gpu]"``): not built yet.

``rollout=vllm`` is reserved for a colocated vLLM engine with weights synced after each optimizer
step (the scale-out issue).  Until then this module fails with a message saying what to use.
"""

from __future__ import annotations


class VLLMGenerator:  # pragma: no cover - placeholder that refuses to run
    def __init__(self, *args, **kwargs) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise ImportError('rollout=vllm needs vLLM on a CUDA machine (pip install -e ".[gpu]"); '
                              "on CPU use rollout=hf") from None
        raise NotImplementedError("rollout=vllm is not implemented yet (scale-out issue); use rollout=hf, which "
                                  "also runs on CUDA")
