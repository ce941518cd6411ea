"""The router's chat format (Qwen2.5/Hermes): a tool-capable Jinja template and the text of turn suffixes.

The agent loop never re-renders a conversation: it appends generated token ids as they are and
tokenizes only the new tool-result segment, so what the policy is trained on is exactly what it
produced.  ``tool_results_segment`` must therefore equal what the template renders for the same
messages; ``tests/unit/test_chat_format.py`` checks that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

IM_START, IM_END, EOS = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [EOS, IM_START, IM_END]
# Qwen2.5 keeps these as added (non-special) tokens so they survive decoding
ADDED_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]

CHAT_TEMPLATE = (
    # every literal is an expression, as in Qwen's own template, so Jinja's trim_blocks/lstrip_blocks
    # (which transformers turns on) cannot eat a newline
    "{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}"
    "{%- set rest = messages[1:] %}{%- else %}{%- set system = 'You are a helpful assistant.' %}"
    "{%- set rest = messages %}{%- endif %}"
    "{{- '<|im_start|>system\\n' + system }}"
    "{%- if tools %}{{- '\\n\\n# Tools\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
    '{{- \'\\n</tools>\\nCall a tool with <tool_call>{"name": ..., "arguments": {...}}</tool_call>.\' }}{%- endif %}'
    "{{- '<|im_end|>\\n' }}"
    "{%- for message in rest %}"
    "{%- if message['role'] == 'tool' %}"
    "{%- if loop.first or rest[loop.index0 - 1]['role'] != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>' }}"
    "{%- if loop.last or rest[loop.index0 + 1]['role'] != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tool_result_content(call_name: str, text: str) -> str:
    """What one tool message says: which call answered, then the answer."""
    return json.dumps({"name": call_name, "content": text}, ensure_ascii=False)


def tool_results_segment(contents: Sequence[str]) -> str:
    """The text after a generated assistant turn (which ends with <|im_end|>): its newline, the
    tool messages as one user block, and the next assistant header."""
    body = "".join(f"\n<tool_response>\n{c}\n</tool_response>" for c in contents)
    return f"\n{IM_START}user{body}{IM_END}\n{IM_START}assistant\n"


def render_prompt(tokenizer: Any, messages: list[dict], tools: list[dict] | None) -> str:
    """The prompt text with the generation header, via the tokenizer's own chat template."""
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
