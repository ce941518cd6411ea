"""Prices (genai-prices + config overrides) and the cost ledger."""

import pytest

from xrouter.pool.ledger import CallRecord, CostLedger
from xrouter.pool.pricing import MissingPriceError, PriceTable


def test_genai_prices_and_explicit_entries():
    table = PriceTable.from_config(
        {
            "gpt-5": {"price_ref": "gpt-5", "provider": "openai"},
            "local": {"input_per_mtok": 0.04, "output_per_mtok": 0.1, "source": "paper"},
        },
        ["gpt-5", "local"],
    )
    assert table["gpt-5"].input_per_mtok == 1.25 and table["gpt-5"].output_per_mtok == 10.0
    assert table.cost("gpt-5", 1000, 500) == pytest.approx((1000 * 1.25 + 500 * 10.0) / 1e6)
    assert table.cost("local", 1_000_000, 1_000_000) == pytest.approx(0.14)
    assert "genai-prices" in table["gpt-5"].source


def test_every_model_without_a_price_is_listed_at_once():
    with pytest.raises(MissingPriceError) as error:
        PriceTable.from_config(
            {
                "ok": {"input_per_mtok": 1, "output_per_mtok": 1},
                "typo": {"price_ref": "no-such-model-xyz", "provider": "openai"},
            },
            ["ok", "typo", "forgotten"],
        )
    message = str(error.value)
    assert "2 pool model(s)" in message and "typo:" in message and "forgotten: no entry" in message
    assert "conf/pricing" in message


def test_half_price_entry_is_an_error():
    with pytest.raises(MissingPriceError, match="give both"):
        PriceTable.from_config({"m": {"input_per_mtok": 1}}, ["m"])


def test_ledger_totals_and_round_trip(tmp_path):
    ledger = CostLedger()
    ledger.record(CallRecord("a", 10, 5, 0.01, 0.2, episode_id="e1"))
    ledger.record(CallRecord("b", None, None, 0.0, 1.0, attempts=4, error="HTTP 500", episode_id="e1"))
    ledger.record(CallRecord("router", 100, 20, 0.001, 0.1, episode_id="e1", kind="router"))
    ledger.record(CallRecord("a", 10, 5, 0.02, 0.2, episode_id="e2"))
    assert ledger.episode_cost("e1") == pytest.approx(0.01)
    assert ledger.episode_cost("e1", include_router=True) == pytest.approx(0.011)
    totals = ledger.totals()
    assert totals["calls"] == 4 and totals["errors"] == 1 and totals["episodes"] == 2
    assert totals["per_model"]["a"]["cost_usd"] == pytest.approx(0.03)
    back = CostLedger.load(ledger.save(tmp_path / "ledger.jsonl"))
    assert back.records == ledger.records
