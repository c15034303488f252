"""Fixtures the test folders share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from git_kit import repo  # noqa: F401 - a fixture: an empty git repository on `main`


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Widgets made in the test send through a RecordingComm (tests/widget_kit.py), which
    keeps what would go to the browser."""
    import comm

    from tests.widget_kit import RecordingComm

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    yield


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect garbage after each test, so an object it leaked (an unclosed socket...) warns
    in that test, not in whichever test runs next in the worker."""
    yield
    import gc

    gc.collect()


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of its own for a co.data test, with no data service settings inherited from the
    process that runs the tests (tests/test_data.py and its Docker twin)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(home))
    for key in ("CONDUCTO_DATA_URL", "CONDUCTO_DATA_TOKEN", "CONDUCTO_PIPELINE_ID"):
        monkeypatch.delenv(key, raising=False)
    return home
