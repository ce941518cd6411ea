"""Multiple-choice answer extraction: find the option letter a free-text answer commits to."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from xrouter.verify.base import BadExample, Score, maybe_json, require_gold

# After a letter that is also an English word ("A", "I"), these words still read as "the letter"
# ("A is correct", "I, because ..."); any other lowercase word means prose ("A dog", "I think").
_CONNECTORS = r"(?:is|was|because|since|as|would|should|seems|appears|fits|and|or|but|which|for)\b"
_WORD_LETTERS = "AI"


@lru_cache(maxsize=64)
def _patterns(letters: str) -> list[tuple[str, re.Pattern]]:
    L = "[" + re.escape(letters) + "]"
    end = r"(?![A-Za-z0-9])"
    open_ = r"[\s*_`\"'(\[{]*"  # markdown / brackets before the letter
    close = r"[*_`\"')\]}]*"  # ... and after it
    flags = re.MULTILINE
    return [
        # whole response is the letter: "B", "(B)", "B.", "**B**", "[B]", "Option B", "Answer: B"
        ("bare", re.compile(rf"\A\W*(?:(?i:answer|option|choice)\s*[:\-]?\s*)?\(?({L})\)?\W*\Z")),
        # \boxed{B}, \boxed{\text{B}}, \boxed{(B)}
        ("boxed", re.compile(rf"\\boxed\{{\s*(?:\\text(?:bf)?\{{)?\s*\(?({L})\)?\s*\}}")),
        # "answer is (C)", "Answer: **B**", "correct option is C", "final answer: B", "I choose B"
        (
            "stated",
            re.compile(
                rf"(?i:answer|option|choice|choose|select|pick)(?:\s+(?i:is|would\s+be|will\s+be|must\s+be|should\s+be))?"
                rf"\s*(?:[:=\-]|(?i:is))?\s*(?:(?i:option|choice|letter)\s+)?{open_}({L}){close}{end}",
                flags,
            ),
        ),
        # "Option C is correct", "(B) is the right answer"
        (
            "is_correct",
            re.compile(
                rf"(?:(?i:option|choice)\s+)?{open_}({L}){close}\s+(?i:is|would\s+be)\s+(?i:the\s+)?(?i:correct|right|best|true)",
                flags,
            ),
        ),
        # leading "B) east", "C. blue", "(A) because", "**B**: ..."
        ("leading", re.compile(rf"\A\s*[*_`]*\(?({L})[*_`]*(?:[).:\]]|\s+[-\u2013\u2014])", flags)),
        # "... **B** ...", "**B)**", "**(B) text**"
        ("bold", re.compile(rf"\*\*\s*\(?({L})(?:\)|\.|:|\*\*|\s*\))", flags)),
        # "... (B) ..." (only when a single letter is mentioned this way)
        ("paren", re.compile(rf"(?<![A-Za-z0-9])\(({L})\)", flags)),
        # text ends with "... is C." / "... is (C)"
        ("tail", re.compile(rf"\bis\s*:?\s*{open_}({L}){close}\s*[.!]?\s*\Z")),
    ]


def _is_prose(text: str, match: re.Match) -> bool:
    """True when an "A"/"I" match is really the English word (followed by a lowercase word)."""
    if match.group(1) not in _WORD_LETTERS:
        return False
    rest = text[match.end(1) :]
    if re.match(r"[*_`\"')\]}]*[.,:;!?)]", rest):  # punctuation right after the letter
        return False
    follower = re.match(r"\s+([a-z][a-z']*)", rest)
    return bool(follower) and not re.match(_CONNECTORS, follower.group(1))


def _normalise(text: str) -> str:
    text = text.lower().replace("\\text", " ")
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return " ".join(text.split())


def _match_option_text(body: str, letters: str, choices: Sequence[str]) -> str | None:
    """The letter whose option text the response restates, when exactly one option fits."""
    options = {letters[i]: _normalise(str(c)) for i, c in enumerate(choices[: len(letters)])}
    options = {k: v for k, v in options.items() if v}
    said = _normalise(body)
    said = re.sub(r"^(?:the )?(?:correct |final |best )?(?:answer|option|choice)(?: is)? ", "", said)
    exact = [k for k, v in options.items() if v == said]
    if len(exact) == 1:
        return exact[0]
    padded = f" {said} "
    found = [k for k, v in options.items() if f" {v} " in padded]
    # drop options whose text is part of a longer matched option ("1" inside "1 and 2")
    found = [k for k in found if not any(k != j and options[k] in options[j] for j in found)]
    return found[0] if len(found) == 1 else None


def extract_choice(text: str | None, letters: str = "ABCD", choices: Sequence[str] | None = None) -> str | None:
    """The option letter ``text`` commits to, or None when it names none (or is ambiguous).

    Tries, in order: a bare letter ("B", "(B)", "**B**"); ``\\boxed{B}``; an explicit statement
    ("the answer is (C)", "Answer: B", "the correct option is C" — the last one wins); "Option C is
    correct"; a leading "B) ..." / "C. ..."; bold; a parenthesised letter (only if a single one is
    mentioned); a final "... is C.".  The letters "A" and "I" followed by a lowercase word are read
    as English ("A dog is ...", "I think ...").  With ``choices`` (the option texts in letter
    order), a response that only restates one option's text maps to that option's letter.
    """
    if not text:
        return None
    letters = "".join(dict.fromkeys(letters.upper()))
    body = text.strip()
    for name, pattern in _patterns(letters):
        if name == "bare":
            found = pattern.match(body)
            if found is None and len(body) <= 4:
                found = re.fullmatch(rf"\W*\(?([{re.escape(letters.lower())}])\)?\W*", body)
                if found:
                    return found.group(1).upper()
            if found:
                return found.group(1)
            continue
        hits = [m for m in pattern.finditer(body) if not _is_prose(body, m)]
        if not hits:
            continue
        if name == "paren":
            distinct = {m.group(1) for m in hits}
            if len(distinct) == 1:
                return distinct.pop()
            continue
        return hits[-1].group(1)
    if choices:
        return _match_option_text(body, letters, choices)
    return None


def gold_letter(gold: Any, letters: str) -> str:
    """Gold as a letter: "B", or a 0-based index ("1" / 1 -> "B") as in MMLU's answer column.
    A gold that is itself one of the labels wins over the index reading (labels "1234")."""
    text = str(gold).strip().strip("().").upper()
    if len(text) == 1 and text in letters.upper():
        return text
    if text.isdigit() and int(text) < len(letters):
        return letters[int(text)]
    raise BadExample(f"gold {gold!r} is not one of the letters {letters!r} or a 0-based index")


def verify_choice(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "choice": 1 if the extracted letter equals the gold letter."""
    letters = str(example.get("letters") or "ABCD").upper()
    choices = maybe_json(example.get("choices"))
    if choices is not None and not isinstance(choices, (list, tuple)):
        raise BadExample("choices must be a list of option texts")
    gold = gold_letter(require_gold(example), letters)
    said = extract_choice(answer_text, letters, choices)
    if said is None:
        return Score(0.0, "no choice found")
    return Score(1.0, f"choice {said}") if said == gold else Score(0.0, f"choice {said} != {gold}")
