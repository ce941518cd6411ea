"""Multiple-choice answer extraction: find the option letter a free-text answer commits to."""

from __future__ import annotations

import re

_PATTERNS = [
    r"^\W*\(?([{L}])\)?\W*$",                                   # "B", "(B)", "B.", "**B**"
    r"(?i:answer|choice|option)\s*(?:is|:)?\s*\**\(?([{L}])\)?(?![A-Za-z])",  # "Answer: B", "the answer is (C)"
    r"^\W*\(?([{L}])\)?[\s).:\]-]",                             # "B) east", "C. blue", "(A) because..."
    r"\*\*\(?([{L}])\)?\*\*",                                   # "... **B** ..."
    r"(?<![A-Za-z])\(([{L}])\)",                                # "... (B) ..."
]


def extract_choice(text: str | None, letters: str = "ABCD") -> str | None:
    """The option letter ``text`` commits to, or None when it names none (or is ambiguous).

    Tries, in order: a bare letter, "answer is X", a leading "X)" / "X.", bold, parenthesised.
    """
    if not text:
        return None
    body = text.strip()
    for pattern in _PATTERNS:
        compiled = re.compile(pattern.replace("{L}", re.escape(letters)), re.MULTILINE)
        found = compiled.search(body)
        if found:
            letter = found.group(1).upper()
            if letter in letters.upper():
                return letter
    return None
