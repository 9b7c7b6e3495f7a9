"""Policies end to end: real pip and uv installs through a groxpi subprocess."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import GroxpiFactory
from tests.support.fake_index import FakeIndex, Release
from tests.support.installers import UV, installed_version, make_venv, pip_install, uv_install


def recent(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def uv_install_fails(python: Path, index: str, package: str) -> str:
    result = subprocess.run(
        [UV, "pip", "install", "--no-cache", "--python", str(python), "--index-url", index,
         package],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
    return result.stderr


@pytest.mark.slow
def test_pinned_project_installs_from_its_index_despite_an_impostor(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_project("mycorp-tools", [Release("99.0")])  # the public impostor
    with FakeIndex(tmp_path / "private") as private:
        private.add_project("mycorp-tools", [Release("1.0", requires=["beta"])])
        server = groxpi_server(
            GROXPI_EXTRA_INDEX_URLS=private.index_url,
            GROXPI_PROJECT_INDEXES=f"mycorp-*={private.index_url}",
        )
        index = f"{server.url}/simple/"
        with_pip = make_venv(tmp_path / "pip", with_pip=True)
        pip_install(with_pip, index, "mycorp-tools")
        with_uv = make_venv(tmp_path / "uv", with_pip=False)
        uv_install(with_uv, index, "mycorp-tools")
    for python in (with_pip, with_uv):
        assert installed_version(python, "mycorp-tools") == "1.0"
        assert installed_version(python, "beta") == "1.0"  # unpinned: from the public index
    assert fake_index.index_requests("/simple/mycorp-tools/") == 0
    assert fake_index.file_requests("mycorp_tools-99.0-py3-none-any.whl") == 0


@pytest.mark.slow
def test_cooldown_installs_the_older_release_unless_exempt(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_project("fresh", [Release("1.0"), Release("2.0", uploaded=recent(hours=3))])
    server = groxpi_server(GROXPI_MIN_RELEASE_AGE="7d")
    python = make_venv(tmp_path / "cool", with_pip=True)
    pip_install(python, f"{server.url}/simple/", "fresh")
    assert installed_version(python, "fresh") == "1.0"
    assert fake_index.file_requests("fresh-2.0-py3-none-any.whl") == 0
    exempt = groxpi_server(GROXPI_MIN_RELEASE_AGE="7d", GROXPI_MIN_RELEASE_AGE_EXEMPT="fresh")
    python = make_venv(tmp_path / "exempt", with_pip=False)
    uv_install(python, f"{exempt.url}/simple/", "fresh")
    assert installed_version(python, "fresh") == "2.0"


@pytest.mark.slow
def test_allow_and_deny_lists_decide_what_installs(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    allowed = groxpi_server(GROXPI_ALLOW_PROJECTS="alpha,beta")
    python = make_venv(tmp_path / "allowed", with_pip=False)
    uv_install(python, f"{allowed.url}/simple/", "alpha")
    assert installed_version(python, "beta") == "1.0"
    uv_install_fails(python, f"{allowed.url}/simple/", "gamma")
    denied = groxpi_server(GROXPI_DENY_PROJECTS="beta", GROXPI_DENY_STATUS="403")
    python = make_venv(tmp_path / "denied", with_pip=False)
    uv_install_fails(python, f"{denied.url}/simple/", "alpha")  # its dependency is refused
    assert fake_index.index_requests("/simple/gamma/") == 0
    assert fake_index.index_requests("/simple/beta/") == 1  # only the first server asked
