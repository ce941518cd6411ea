"""The priced model pool: endpoints (replay, OpenAI-compatible HTTP, local HF), prices, cost ledger."""

from xrouter.pool.base import Completion, Endpoint, EndpointError

__all__ = ["Completion", "Endpoint", "EndpointError"]
