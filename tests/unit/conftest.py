"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from tests.unit.bundle_parts import Parts, make_parts


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    """The small real bundle of ``bundle_parts``, built once per test module."""
    return make_parts(tmp_path_factory.mktemp("bundle"))
