"""service.steps.fewer_gc_passes: the collector runs less often inside a batch and exactly as before after it."""

from __future__ import annotations

import gc

import pytest

from service.steps import fewer_gc_passes


def test_the_threshold_is_raised_inside_and_put_back_after_even_on_failure() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes(threshold=before[0] + 12_345):
        assert gc.get_threshold() == (before[0] + 12_345, *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_gc_passes(threshold=before[0] + 1):
        raise RuntimeError("the batch failed")
    assert gc.get_threshold() == before


def test_a_lower_threshold_than_the_current_one_is_not_applied() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes(threshold=1):
        assert gc.get_threshold() == before
