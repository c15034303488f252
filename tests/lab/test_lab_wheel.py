"""A plain `pip install` of the wheel enables both halves of the lab extension: the wheel
carries the server extension's jupyter-config file and the committed labextension build in
its data, where pip puts them under the environment's etc/jupyter and share/jupyter. (The
full install, `jupyter server extension list` and `jupyter labextension list` in a fresh
venv, needs PyPI; this checks the wheel that install unpacks.)"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]


def test_the_wheel_carries_the_server_config_and_the_built_labextension(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("conducto_nb-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        data = next(n.split("/")[0] for n in names if ".data/" in n)
        config = f"{data}/data/etc/jupyter/jupyter_server_config.d/conducto_nb.json"
        enabled = json.loads(zf.read(config))["ServerApp"]["jpserver_extensions"]
        ext = f"{data}/data/share/jupyter/labextensions/conducto-nb-lab"
        package = json.loads(zf.read(f"{ext}/package.json"))
    assert enabled == {"conducto_nb.lab": True}
    assert package["name"] == "conducto-nb-lab"
    entry = package["jupyterlab"]["_build"]["load"]  # the bundle Lab loads: in the wheel
    assert f"{ext}/{entry}" in names
    assert "conducto_nb/lab/handlers.py" in names
    assert not any(n.startswith("conducto_nb/lab/labextension/") for n in names)  # not twice
