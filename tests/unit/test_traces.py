"""The canonical trace format: validation names file, row and column; round trips keep the data."""

import pandas as pd
import pytest

from xrouter.data.traces import TraceFormatError, complete_prompts, load_traces, save_traces, validate_traces


def make_rows(n_prompts: int = 2, models=("a", "b")) -> pd.DataFrame:
    rows = []
    for p in range(n_prompts):
        for m in models:
            rows.append(
                dict(
                    prompt_id=f"p{p}",
                    benchmark="toy",
                    split="test",
                    prompt=f"q{p}",
                    gold="A",
                    model=m,
                    response="A",
                    score=1.0,
                    input_tokens=10,
                    output_tokens=2,
                    cost_usd=0.001,
                    latency_s=0.5,
                    source="unit",
                )
            )
    return pd.DataFrame(rows)


def test_valid_frame_gets_canonical_dtypes():
    out = validate_traces(make_rows())
    assert str(out["input_tokens"].dtype) == "Int64"
    assert str(out["score"].dtype) == "float64"
    assert not out["cost_estimated"].any()


def test_missing_column_is_named():
    with pytest.raises(TraceFormatError, match=r"my\.jsonl: missing column\(s\) \['cost_usd'\]"):
        validate_traces(make_rows().drop(columns=["cost_usd"]), source="my.jsonl")


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("score", 1.5, r"row 3, column 'score': 1.5 is outside"),
        ("score", "high", r"row 3, column 'score': 'high' is not a valid float"),
        ("input_tokens", 2.5, r"row 3, column 'input_tokens': 2.5 is not a valid int"),
        ("prompt", None, r"row 3, column 'prompt': empty, but this column is required"),
        ("cost_usd", -1.0, r"row 3, column 'cost_usd'"),
    ],
)
def test_bad_value_names_row_and_column(column, value, message):
    frame = make_rows()
    frame[column] = frame[column].astype(object)
    frame.at[3, column] = value
    with pytest.raises(TraceFormatError, match=message):
        validate_traces(frame, source="f.parquet")


def test_duplicate_prompt_model_pair_is_rejected():
    frame = pd.concat([make_rows(), make_rows().iloc[[0]]], ignore_index=True)
    with pytest.raises(TraceFormatError, match=r"row 4: \(prompt_id='p0', model='a'\) appears twice"):
        validate_traces(frame)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    frame = make_rows()
    frame.loc[0, "response"] = None
    path = save_traces(frame, tmp_path / f"t{suffix}")
    back = load_traces(path)
    pd.testing.assert_frame_equal(back, validate_traces(frame))


def test_unreadable_json_line_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"prompt_id": "x"}\n{not json\n')
    with pytest.raises(TraceFormatError, match="t.jsonl: line 2 is not valid JSON"):
        load_traces(path)


def test_complete_prompts_drops_partial_prompts():
    frame = validate_traces(make_rows(3))
    frame = frame[~((frame.prompt_id == "p1") & (frame.model == "b"))]
    kept, dropped = complete_prompts(frame)
    assert dropped == 1 and sorted(kept.prompt_id.unique()) == ["p0", "p2"]
