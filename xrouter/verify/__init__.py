"""Verifiers: score a final answer against a benchmark examples gold answer."""
