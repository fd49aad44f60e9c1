"""``RayOrderedPool`` keeps ``OrderedPool``'s contract on a real cluster: order, errors, laziness."""

from __future__ import annotations

import operator
from functools import partial

import pytest

from segstudio.cluster.pool import CHUNK, RayOrderedPool


def test_results_come_back_in_input_order_with_the_context(ray_address: str) -> None:
    with RayOrderedPool(2, partial(int, "5")) as pool:  # builtins: importable on every worker
        assert list(pool.map(operator.add, range(10 * CHUNK + 3))) == [5 + i for i in range(10 * CHUNK + 3)]


def test_a_failing_item_raises_its_own_error_at_its_turn(ray_address: str) -> None:
    results = []
    with RayOrderedPool(2, partial(int, "6")) as pool, pytest.raises(ZeroDivisionError):
        for value in pool.map(operator.truediv, [1, 2, 3] * CHUNK + [0, 1]):
            results.append(value)
    assert results == [6.0, 3.0, 2.0] * CHUNK  # everything before the failing chunk
