"""Recording traces from a pool (``python -m xrouter.record`` is the command): the budgeted call loop
(``loop.py``) and its append-only JSONL file (``jsonl_file.py``)."""
