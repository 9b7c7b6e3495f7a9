"""Client compatibility: real pip releases and uv, over groxpi's JSON and HTML forms.

Each case downloads through a fresh groxpi (pages, PEP 658 metadata, files,
resolution of a dependency, a yanked release skipped) and checks every file
byte for byte, then installs from the now warm cache into a bare venv.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from tests.conftest import GroxpiFactory
from tests.support import pips
from tests.support.fake_index import FakeIndex
from tests.support.html_front import HtmlOnlyFront
from tests.support.installers import installed_version, make_venv, uv_install

EXPECTED = {"alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl", "delta-1.0-py3-none-any.whl"}
"""What ``alpha delta`` resolves to: alpha needs beta>=1.0, whose 2.0 is yanked."""

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"


def _releases() -> list[tuple[str, str]]:
    cases = []
    for release in (*pips.MATRIX, pips.newest()):
        forms = ("json", "html") if pips.speaks_json(release) else ("html",)
        cases += [(release, form) for form in forms]
    return cases


def _assert_byte_exact(directory: Path, fake_index: FakeIndex) -> None:
    got = {path.name: path.read_bytes() for path in directory.iterdir()}
    assert set(got) == EXPECTED
    for name, data in got.items():
        assert hashlib.sha256(data).hexdigest() == fake_index.file(name).sha256, name


def _assert_installed_intact(python: Path, fake_index: FakeIndex) -> None:
    """Every file the installer unpacked equals the same member of the upstream wheel."""
    (site,) = (python.parent.parent / "lib").glob("python*/site-packages")
    for name in EXPECTED:
        with zipfile.ZipFile(io.BytesIO(fake_index.file(name).data)) as wheel:
            for member in wheel.namelist():
                if not member.endswith(("/RECORD", "/")):
                    assert (site / member).read_bytes() == wheel.read(member), member


@pytest.mark.slow
@pytest.mark.parametrize(("release", "form"), _releases())
def test_pip_release_installs_through_groxpi(
    release: str, form: str, groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    server = groxpi_server()
    python = make_venv(tmp_path / "venv", with_pip=False)
    with HtmlOnlyFront(server.url) as front:
        base = front.url if form == "html" else server.url
        index = f"{base}/simple/"
        pips.run_pip(python, release, "download", "--dest", str(tmp_path / "dl"),
                     "--index-url", index, "alpha", "delta")  # fmt: skip
        _assert_byte_exact(tmp_path / "dl", fake_index)
        downloads = fake_index.file_requests()
        pips.run_pip(python, release, "install", "--index-url", index, "alpha", "delta")
    assert installed_version(python, "alpha") == "1.0"
    assert installed_version(python, "beta") == "1.0"
    _assert_installed_intact(python, fake_index)
    assert fake_index.file_requests() == downloads  # the install came from groxpi's cache
    if form == "html":
        assert any(JSON_ACCEPT in accept for accept in front.accepts) == pips.speaks_json(release)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["json", "html"])
def test_uv_installs_through_groxpi(
    form: str, groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    server = groxpi_server()
    python = make_venv(tmp_path / "venv", with_pip=False)
    with HtmlOnlyFront(server.url) as front:
        base = front.url if form == "html" else server.url
        uv_install(python, f"{base}/simple/", "alpha", "delta")
    assert installed_version(python, "beta") == "1.0"
    _assert_installed_intact(python, fake_index)
