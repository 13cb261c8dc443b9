"""Flow tests run the real Prefect engine under the session-scoped test
harness (``prefect_harness`` in tests/fixtures_web.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import wiring
from evidence import setup
from tests.fixtures_sql import register_people, sample_case


@pytest.fixture
def jitev(
    catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[wiring.Wiring]:
    """The wiring the flow will use (local store, each catalog backend), with
    the standard people registered and the case DANUBE opened by BG's lead."""
    monkeypatch.setenv("JITEV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JITEV_DB_URL", catalog_url)
    monkeypatch.setenv("JITEV_INGEST_COMMIT_EVERY", "3")
    wiring.current.cache_clear()
    w = wiring.current()
    register_people(w.catalog)
    setup.open_case(w.catalog, sample_case(), "Cmsr. Georgiev")
    yield w
    w.catalog.close()  # type: ignore[attr-defined]
    wiring.current.cache_clear()


def seized(tmp_path: Path, count: int = 5) -> Path:
    root = tmp_path / "seized" / "phone-01"
    (root / "photos").mkdir(parents=True)
    for i in range(count):
        (root / "photos" / f"IMG_{i:04d}.jpg").write_bytes(
            b"\xff\xd8\xff\xe0" + bytes([i]) * (1000 + i)
        )
    (root / "chat.txt").write_text("Marko: the vans leave Thursday\n")
    return root
