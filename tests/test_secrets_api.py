"""co.api.Secrets over this machine's secrets store: put, get and delete in two scopes, every
stored secret in every Exec's environment (a node's own env wins), and the values masked in
what the run shows and stores."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.store.db import home


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(tmp_path / "home"))


def test_user_and_org_secrets_are_put_read_and_deleted() -> None:
    secrets = co.api.Secrets()
    secrets.put_user_secrets({"API_TOKEN": "u-123", "SHARED": "from-user"})
    secrets.put_org_secrets({"SHARED": "from-org", "ORG_KEY": "o-456"})
    assert secrets.get_user_secrets() == {"API_TOKEN": "u-123", "SHARED": "from-user"}
    assert secrets.get_user_secrets(include_org_secrets=True) == {
        "ORG_KEY": "o-456",
        "SHARED": "from-user",
        "API_TOKEN": "u-123",
    }
    assert secrets.get_org_secrets(obfuscate=True) == {"ORG_KEY": "***", "SHARED": "***"}
    assert "u-123" not in repr(secrets.get())
    secrets.delete_user_secrets(["SHARED"])
    secrets.delete([co.api.SecretKey("ORG_KEY", scope="org")])
    assert [(s.key, s.scope) for s in secrets.get()] == [("SHARED", "org"), ("API_TOKEN", "user")]
    mode = stat.S_IMODE((home() / "secrets.env").stat().st_mode)
    assert mode == 0o600


def test_bad_names_values_and_scopes_are_refused() -> None:
    secrets = co.api.Secrets()
    with pytest.raises(co.ParameterError, match="not a valid environment variable name"):
        secrets.put_user_secrets({"NOT OK": "x"})
    with pytest.raises(co.ParameterError, match="on one line"):
        secrets.put_user_secrets({"MULTI": "a\nb"})
    with pytest.raises(co.ParameterError, match="secret scope 'team'"):
        secrets.put([co.api.Secret("X", "1", scope="team")])


def test_every_exec_gets_the_stored_secrets_masked_in_its_output() -> None:
    co.api.Secrets().put_user_secrets({"DEPLOY_KEY": "s3cr3t-value", "REGION": "eu"})
    with co.Serial() as root:
        co.Exec('echo "key=$DEPLOY_KEY region=$REGION"', name="uses")
        co.Exec('echo "region=$REGION"', name="own", env={"REGION": "us"})
    run = root.run()
    assert run["/uses"].stdout == "key=*** region=***\n"  # every stored value is masked
    assert run["/own"].stdout == "region=us\n"
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import conducto_nb as co
                print(co.load({run.id!r})["/uses"].stdout, end="")
            """),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert shown.stdout == "key=*** region=***\n"  # as stored: masked before it was kept
