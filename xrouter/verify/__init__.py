"""Verifiers: score a final answer against a benchmark example's gold answer.

One entry point for every benchmark: ``verify(example, answer_text) -> Score`` where
``example["verifier"]`` names one of ``known_verifiers()`` ("math", "numeric", "choice", "exact",
"f1", "code_mbpp", "code_humaneval", "crux").  ``verify_many`` batches (math and code in parallel).
Importing this package is cheap: math-verify is only imported inside the math worker processes.
"""

from xrouter.verify.base import BadExample, Score
from xrouter.verify.choice import extract_choice
from xrouter.verify.code import extract_code, verify_code_batch
from xrouter.verify.crux import crux_equal, extract_crux_answer
from xrouter.verify.json_answer import extract_json_answer
from xrouter.verify.math import extract_math_answer, verify_math, verify_math_batch
from xrouter.verify.numeric import extract_number
from xrouter.verify.registry import get_verifier, known_verifiers, register, verify, verify_many
from xrouter.verify.sandbox import RunResult, run_program
from xrouter.verify.text import exact_match, f1_score, normalize_answer

__all__ = [
    "BadExample",
    "RunResult",
    "Score",
    "crux_equal",
    "exact_match",
    "extract_choice",
    "extract_code",
    "extract_crux_answer",
    "extract_json_answer",
    "extract_math_answer",
    "extract_number",
    "f1_score",
    "get_verifier",
    "known_verifiers",
    "normalize_answer",
    "register",
    "run_program",
    "verify",
    "verify_code_batch",
    "verify_many",
    "verify_math",
    "verify_math_batch",
]
