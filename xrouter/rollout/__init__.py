"""Rollouts: the router policy generating turns (HF on CPU/GPU, vLLM on GPU) inside the agent loop."""
