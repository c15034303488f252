"""The public API is exactly `conducto_nb.__all__`, after httpx's test_exported_members.py."""

from __future__ import annotations

import importlib
import types

import conducto_nb as co

INCLUDED_PRIVATE_MEMBERS = ["__version__"]
#: Modules exported by name, as Conducto exported them (`co.callback.retry(3)`).
EXPORTED_MODULES = ["api", "callback", "data", "git", "slack"]


def public_members() -> list[str]:
    for name in co.__all__:  # what is imported on first use (co._LAZY) is there from now on
        getattr(co, name)
    return [
        name
        for name, value in vars(co).items()
        if (not name.startswith("_") or name in INCLUDED_PRIVATE_MEMBERS)
        and (not isinstance(value, types.ModuleType) or name in EXPORTED_MODULES)
    ]


def test_all_imports_are_exported() -> None:
    assert sorted(co.__all__) == sorted(public_members())


def test_every_exported_name_exists() -> None:
    missing = [name for name in co.__all__ if not hasattr(co, name)]
    assert missing == []


def test_all_has_no_duplicates() -> None:  # its order is ruff's (RUF022)
    assert len(co.__all__) == len(set(co.__all__))


def test_every_export_is_also_importable_from_its_own_module() -> None:
    for name in co.__all__:
        value = getattr(co, name)
        if name in INCLUDED_PRIVATE_MEMBERS or name in EXPORTED_MODULES:
            continue
        module = importlib.import_module(value.__module__)
        assert name in module.__all__, f"{name} is not in {module.__name__}.__all__"
        assert getattr(module, name) is value


def test_errors_share_one_base() -> None:
    errors = [getattr(co, n) for n in co.__all__ if n.endswith(("Error", "NotFound"))]
    assert errors
    assert all(issubclass(e, co.PipelineError) for e in errors)


def test_lazy_exports_cost_nothing_until_used() -> None:
    """`import conducto_nb` does not import the data client's HTTP modules nor the Dask
    client; naming them imports them."""
    import subprocess
    import sys

    code = (
        "import sys, conducto_nb as co\n"
        "print(any(m in sys.modules for m in ('http.client', 'conducto_nb.backends.dask')))\n"
        "co.temp_data, co.DaskBackend\n"
        "print(all(m in sys.modules for m in ('http.client', 'conducto_nb.backends.dask')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr
