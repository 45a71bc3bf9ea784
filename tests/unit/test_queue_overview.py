"""The queue view's pure part: a caller's number, masked."""
from __future__ import annotations

import pytest

from queueing.overview import mask_number


@pytest.mark.parametrize("number, masked", [
    ("+13125550199", "+1312•••0199"),  # NANP: country and area code, then the last four
    ("+442071838750", "+4420•••8750"),
    ("+3531234567", "+•••4567"),  # ten digits: showing eight would hide two, so only the end
    ("+35312345", "+•••2345"),
    ("anonymous", None), ("client:alice", None), ("", None), (None, None), ("13125550199", None),
])
def test_mask_number(number, masked):
    assert mask_number(number) == masked
