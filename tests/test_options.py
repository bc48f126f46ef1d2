"""kproto.core.options: option bundles, and the run's own choices filling the gaps."""

from __future__ import annotations

import pytest

from kproto.core.options import AttackOptions, DecodingOptions


@pytest.mark.parametrize(
    ("given", "saved", "resolved"),
    [
        (DecodingOptions(), {}, DecodingOptions(1, None)),
        (DecodingOptions(), {"beam": 4, "max_length": 12}, DecodingOptions(4, 12)),
        (DecodingOptions(beam=2), {"beam": 4, "max_length": 12}, DecodingOptions(2, 12)),
        (DecodingOptions(max_length=3), {"beam": 4}, DecodingOptions(4, 3)),
    ],
)
def test_decoding_options_fall_back_to_the_run(given: DecodingOptions, saved: dict, resolved: DecodingOptions) -> None:
    assert given.resolved(saved) == resolved


def test_no_attack_by_default() -> None:
    assert AttackOptions().method is None and AttackOptions("pgd", 0.1, 5).steps == 5
