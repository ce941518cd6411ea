"""The OpenAI-compatible router server: ``python -m xrouter.serve router=<dir or hub id> pool=<pool>``."""
