"""Money parsing, the one rounding rule, and largest-remainder allocation."""

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from settle.engine.money import allocate, cents_to_str, dollars_to_cents, round_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [("12", 1200), ("12.5", 1250), ("-0.07", -7), ("12.5000", 1250), ("+3.10", 310), (".25", 25)],
)
def test_dollars_parse_to_exact_cents(text: str, cents: int) -> None:
    assert dollars_to_cents(text) == cents


@pytest.mark.parametrize("text", ["1,000.00", "$5", "1e3", "12.345", "", "nan", "12.3.4", "--1"])
def test_dollars_parse_strictly(text: str) -> None:
    with pytest.raises(ValueError):
        dollars_to_cents(text)


def test_round_cents_is_half_even() -> None:
    # 0.125 dollars = 12.5 cents -> 12 (even); 0.135 -> 13.5 cents -> 14 (even).
    assert round_cents(Decimal("0.125")) == 12
    assert round_cents(Decimal("0.135")) == 14
    assert round_cents(Decimal("-0.125")) == -12


def test_cents_to_str() -> None:
    assert cents_to_str(-5) == "-0.05"
    assert cents_to_str(123456) == "1234.56"


def test_allocate_hand_cases() -> None:
    # 100 cents over three equal weights: 33.33 each, one cent left -> first party.
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    # 10 over 0.5/0.25/0.25: exact 5, 2.5, 2.5 -> floors 5,2,2, remainder to the earlier tie.
    assert allocate(10, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")]) == [5, 3, 2]
    # remainders 0.7 (party 2) beat 0.3 (party 1): 7 over weights 3 and 7 of 10 -> 2.1, 4.9.
    assert allocate(7, [3, 7]) == [2, 5]
    assert allocate(0, [0, 0]) == [0, 0]
    assert allocate(5, [0, 0]) == [3, 2]


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
)
@example(total=1, weights=[0])
def test_allocate_adds_up_and_is_proportional(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights) or len(weights)
    effective = weights if sum(weights) else [1] * len(weights)
    for part, w in zip(parts, effective, strict=True):
        exact = Decimal(total) * w / weight_sum
        assert abs(Decimal(part) - exact) < 1
