"""Shipping: the licence, the pinned requirements, the zipapp, the Docker and
compose files, and README's client snippets.

The zipapp is built once per session the way the image builds it (``python
build_zipapp.py`` in a copy of the Docker build context) and run by a bare
virtualenv's interpreter, which has nothing but the standard library.
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from groxpi import __version__
from tests.support.fake_index import FakeIndex
from tests.support.server import REPO_ROOT, free_port

DOCKER_DIR = REPO_ROOT / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE_FILES = sorted(DOCKER_DIR.glob("docker-compose*.yml"))
BUILD_COMMAND = "python build_zipapp.py"
LOCK_DIR = REPO_ROOT / "requirements"
RUNTIME_LOCK = LOCK_DIR / "runtime.txt"
TEST_LOCK = LOCK_DIR / "test.txt"
BUILD_LOCK = LOCK_DIR / "build.txt"

# Compiled modules the zipapp must carry (glob patterns inside site-packages/).
COMPILED = [
    "uvloop/loop.*.so",
    "msgspec/_core.*.so",
    "isal/isal_zlib.*.so",
    "selectolax/lexbor.*.so",
    "yarl/_quoting_c.*.so",
    "multidict/_multidict.*.so",
    "frozenlist/_frozenlist.*.so",
    "propcache/_helpers_c.*.so",
    "aiohttp/_http_parser.*.so",
    "aiohttp/_http_writer.*.so",
]


# -- helpers -------------------------------------------------------------------


Rule = tuple[bool, re.Pattern[str], str]


def _dockerignore_rules() -> list[Rule]:
    """(exclude?, regex, pattern) per line of .dockerignore, in order (last match wins)."""
    rules = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((not negate, re.compile(regex + "$"), pattern))
    return rules


def _excluded(rel: str, rules: list[Rule]) -> bool:
    """Docker's rule: a pattern matching a path or any of its parents applies to it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for exclude, regex, _ in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = exclude
    return excluded


def make_docker_context(dest: Path) -> Path:
    """Copy what ``docker build .`` would send, honouring .dockerignore."""
    rules = _dockerignore_rules()
    for dirpath, dirnames, filenames in os.walk(REPO_ROOT):
        rel_dir = Path(dirpath).relative_to(REPO_ROOT).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # Skip excluded directories that no "!" rule could re-include anything from.
        dirnames[:] = [
            d
            for d in dirnames
            if not _excluded(rel_dir + d, rules)
            or any(not ex and pat.startswith(rel_dir + d) for ex, _, pat in rules)
        ]
        for name in filenames:
            rel = rel_dir + name
            if not _excluded(rel, rules):
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(dirpath) / name, target)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GROXPI_", "PROXPI_", "SHIV_", "PYTHON")) and k != "PORT"
    }
    env.update(extra)
    return env


def bare_venv(path: Path) -> Path:
    """A virtualenv without pip: its interpreter sees only the standard library."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def parse_dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = parse_dockerfile()
    return instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]


def exec_form(word: str) -> list[str]:
    """The final stage's last ``word`` instruction (CMD, ENTRYPOINT, ...) in exec form."""
    args = [a for w, a in final_stage() if w == word][-1]
    if word == "HEALTHCHECK":
        args = args.split(" CMD ", 1)[1]
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def image_command(python: Path, pyz: Path, *args: str) -> list[str]:
    """What ``docker run IMAGE ARGS...`` runs, with this host's interpreter and zipapp."""
    entrypoint = exec_form("ENTRYPOINT")
    assert entrypoint == ["python", "/app/groxpi.pyz"]
    return [str(python), str(pyz), *(list(args) or exec_form("CMD"))]


def config_env_names() -> set[str]:
    source = (REPO_ROOT / "groxpi" / "config.py").read_text()
    return set(re.findall(r'"((?:GROXPI|AWS)_[A-Z0-9_]+|PORT)"', source))


def load_compose(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


Pin = tuple[Requirement, list[str]]  # name==version (with its marker), sha256 hashes


def read_lock(path: Path) -> list[Pin]:
    """Every requirement line of a pinned requirements file, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("-"), f"{path.name}: option line {line!r}"
        spec, *hashes = (part.strip() for part in line.split(" --hash="))
        pins.append((Requirement(spec), hashes))
    return pins


def lock_versions(path: Path) -> dict[str, set[str]]:
    """Normalized name -> the versions pinned for it (several when split by markers)."""
    versions: dict[str, set[str]] = {}
    for req, _ in read_lock(path):
        (spec,) = req.specifier
        versions.setdefault(canonicalize_name(req.name), set()).add(spec.version)
    return versions


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def assert_lock_satisfies(lock: Path, requirements: list[str]) -> None:
    versions = lock_versions(lock)
    for line in requirements:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in versions, f"{lock.name} does not pin {req.name} (run `make lock`)"
        for version in versions[name]:
            assert req.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {name}=={version}, outside {line!r} (run `make lock`)"
            )


# -- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def built_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the zipapp once, from a copy of the Docker build context."""
    context = make_docker_context(tmp_path_factory.mktemp("docker-context"))
    proc = subprocess.run(
        [sys.executable, *BUILD_COMMAND.split()[1:]],
        cwd=context,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout
    pyz = context / "dist" / "groxpi.pyz"
    assert pyz.is_file(), proc.stdout
    return pyz


@pytest.fixture
def pyz_setup(built_pyz: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """(bare interpreter, a copy of the zipapp, env with a private SHIV_ROOT)."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    pyz = Path(shutil.copy2(built_pyz, app_dir / "groxpi.pyz"))
    python = bare_venv(tmp_path / "bare")
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv-root"))
    return python, pyz, env


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory unrelated to the project or the zipapp."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    return cwd


# -- licence -------------------------------------------------------------------


def test_license_is_mit_and_declared() -> None:
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the groxpi authors" in text
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_license(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--sdist", "--wheel", "--out-dir", str(out)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    license_text = (REPO_ROOT / "LICENSE").read_bytes()
    (wheel,) = out.glob(f"groxpi-{__version__}-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = f"groxpi-{__version__}.dist-info"
        assert zf.read(f"{info}/licenses/LICENSE") == license_text
        metadata = zf.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT\n" in metadata
    assert "License-File: LICENSE\n" in metadata
    (sdist,) = out.glob(f"groxpi-{__version__}.tar.gz")
    with tarfile.open(sdist) as tf:
        member = tf.extractfile(f"groxpi-{__version__}/LICENSE")
        assert member is not None and member.read() == license_text


# -- pinned dependencies -------------------------------------------------------


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_lock_pins_every_package_exactly_with_hashes_and_no_index(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    for req, hashes in pins:
        (spec,) = req.specifier
        assert spec.operator == "==", f"{lock.name}: {req} is not an exact pin"
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), req
    text = lock.read_text()
    # Made by `make lock`, and naming no index: a mirror configured on the machine
    # that ran it must not end up in the file.
    assert "\n#    make lock\n" in text
    assert "://" not in text and "--index-url" not in text and "--find-links" not in text


def test_runtime_lock_covers_every_runtime_dependency() -> None:
    assert_lock_satisfies(RUNTIME_LOCK, pyproject()["project"]["dependencies"])


def test_test_lock_covers_every_extra_with_the_runtime_pins() -> None:
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    assert_lock_satisfies(
        TEST_LOCK, project["dependencies"] + extras["test"] + extras["dev"] + extras["bench"]
    )
    runtime, test = lock_versions(RUNTIME_LOCK), lock_versions(TEST_LOCK)
    for name, versions in runtime.items():
        assert test.get(name) == versions, f"{name}: test.txt and runtime.txt differ"


def test_build_lock_pins_the_zipapp_tool_like_the_test_lock() -> None:
    build, test = lock_versions(BUILD_LOCK), lock_versions(TEST_LOCK)
    assert set(build) == {"shiv", "click"}  # shiv's pip and setuptools come with any venv
    for name, versions in build.items():
        assert test[name] == versions, f"{name}: build.txt and test.txt differ"


def test_ci_and_install_use_the_test_lock() -> None:
    locked = "pip install --disable-pip-version-check --require-hashes -r requirements/test.txt"
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert locked in ci
    assert "pip install --disable-pip-version-check --no-deps -e ." in ci
    assert "'.[test,dev]'" not in ci  # nothing resolved around the lock
    makefile = (REPO_ROOT / "Makefile").read_text()
    install = makefile.split("\ninstall:", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r requirements/test.txt" in install
    lock = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    for path in (RUNTIME_LOCK, TEST_LOCK, BUILD_LOCK):
        assert f"-o {path.relative_to(REPO_ROOT)}" in lock
    assert "make lock" in (REPO_ROOT / "README.md").read_text()


# -- README's client snippets -----------------------------------------------------


def readme_code_blocks() -> list[tuple[str, str, str]]:
    """(language, body, the prose just before) for each fenced block of README.md."""
    text = (REPO_ROOT / "README.md").read_text()
    return [
        (m.group(1), m.group(2), text[max(0, m.start() - 300) : m.start()])
        for m in re.finditer(r"(?ms)^```(\w*)\n(.*?)^```", text)
    ]


LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


def test_readme_pip_commands_trust_plain_http_hosts() -> None:
    seen = 0
    for _, body, _ in readme_code_blocks():
        for line in body.splitlines():
            if not re.search(r"\bpip (install|download)\b", line) or "uv pip" in line:
                continue
            for host in re.findall(r"--index-url http://(?:[^@/\s]*@)?([^/:\s]+)", line):
                seen += 1
                if host not in LOOPBACK:  # pip refuses other plain-http indexes without it
                    assert f"--trusted-host {host}" in line, line
    assert seen >= 3
    settings = "\n".join(body for _, body, _ in readme_code_blocks())
    for host in re.findall(r"index-url = http://([^/:\s]+)", settings):
        assert host in LOOPBACK or f"trusted-host = {host}" in settings
    for host in re.findall(r"PIP_INDEX_URL=http://([^/:\s]+)", settings):
        assert host in LOOPBACK or f"PIP_TRUSTED_HOST={host}" in settings


def test_readme_uv_index_tables_match_their_file() -> None:
    blocks = [(body, before) for lang, body, before in readme_code_blocks() if lang == "toml"]
    uv_tables = [(b, before) for b, before in blocks if "index]]" in b]
    assert uv_tables
    for body, before in uv_tables:
        prose = before.rstrip().rsplit("\n\n", 1)[-1]  # the paragraph introducing it
        if "[[tool.uv.index]]" in body:
            assert "pyproject.toml" in prose and "uv.toml" not in prose, prose
        else:
            assert "[[index]]" in body and "uv.toml" in prose and "pyproject" not in prose
    assert any("[[tool.uv.index]]" in body for body, _ in uv_tables)


def test_readme_says_where_groxpi_listens() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert "every interface (`GROXPI_HOST=0.0.0.0`)" in text
    assert "GROXPI_HOST=127.0.0.1 groxpi" in text
    intro = " ".join(text.split("\n## ", 1)[0].split())
    # no unqualified "drop-in replacement": the differences are named, and linked
    assert "drop-in" not in intro.replace("not as a drop-in", "")
    assert "[Compatibility](#compatibility)" in intro
    compatibility = text.split("\n## Compatibility\n", 1)[1].split("\n## ", 1)[0]
    for difference in ("**URLs.**", "**Content-Type.**", "**Health.**", "**Files**", "**Server.**"):
        assert difference in compatibility


# -- zipapp --------------------------------------------------------------------


@pytest.mark.slow
def test_pyz_carries_compiled_dependencies(built_pyz: Path) -> None:
    with zipfile.ZipFile(built_pyz) as zf:
        names = zf.namelist()
    for pattern in COMPILED:
        regex = re.compile("site-packages/" + re.escape(pattern).replace(r"\*", "[^/]*") + "$")
        assert any(regex.match(n) for n in names), f"{pattern} missing from the zipapp"
    assert "site-packages/groxpi/web/templates/home.html" in names
    assert f"site-packages/groxpi-{__version__}.dist-info/licenses/LICENSE" in names
    # exactly the pinned dependencies that apply here, and nothing else
    bundled = {
        canonicalize_name(m.group(1)): m.group(2)
        for n in names
        if (m := re.fullmatch(r"site-packages/([^/]+)-([^-/]+)\.dist-info/METADATA", n))
    }
    expected = {
        canonicalize_name(req.name): next(iter(req.specifier)).version
        for req, _ in read_lock(RUNTIME_LOCK)
        if req.marker is None or req.marker.evaluate()
    }
    assert bundled == {**expected, "groxpi": __version__}
    tagged = list(built_pyz.parent.glob(f"groxpi-{__version__}-cp*-*.pyz"))
    assert len(tagged) == 1
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert f"-{tag}-" in tagged[0].name
    assert tagged[0].read_bytes() == built_pyz.read_bytes()


@pytest.mark.slow
def test_pyz_runs_on_bare_interpreter(
    pyz_setup: tuple[Path, Path, dict[str, str]], elsewhere: Path
) -> None:
    python, pyz, env = pyz_setup
    nothing = subprocess.run(
        [python, "-c", "import aiohttp"], env=env, cwd=elsewhere, capture_output=True
    )
    assert nothing.returncode != 0, "the bare interpreter must not see installed packages"

    version = subprocess.run(
        image_command(python, pyz, "--version"),  # docker run groxpi --version
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert version.returncode == 0, version.stderr
    expected = f"groxpi {__version__} ({platform.python_implementation()} "
    assert version.stdout.startswith(expected), version.stdout
    assert f"{platform.python_version()}, {sys.platform})" in version.stdout

    helped = subprocess.run(
        [python, str(pyz), "--help"], env=env, cwd=elsewhere, capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert "GROXPI_INDEX_URL" in helped.stdout

    # The compiled speedups load from the unpacked archive, not pure-Python fallbacks.
    probe = (
        "import uvloop, msgspec._core, yarl._quoting_c, multidict._multidict, "
        "frozenlist._frozenlist, propcache._helpers_c, aiohttp._http_parser, sys; "
        "import aiohttp.http_parser as hp; "
        "assert hp.HttpRequestParser is hp.HttpRequestParserC; "
        "print(yarl._quoting_c.__file__)"
    )
    compiled = subprocess.run(
        [python, str(pyz), "-c", probe],
        env={**env, "SHIV_INTERPRETER": "1"},
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stdout.strip().startswith(env["SHIV_ROOT"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_zipapp_installs_its_build_tool(tmp_path: Path) -> None:
    """`make zipapp` right after `pip install .`: shiv comes from requirements/build.txt."""
    src = make_docker_context(tmp_path / "src")
    shutil.copy2(REPO_ROOT / "Makefile", src / "Makefile")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    assert subprocess.run([python, "-c", "import shiv"], capture_output=True).returncode != 0
    proc = subprocess.run(
        ["make", "zipapp", f"PYTHON={python}"],
        cwd=src,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout
    assert "installing shiv" in proc.stdout
    assert (src / "dist" / "groxpi.pyz").is_file()
    installed = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('shiv'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {installed.stdout.strip()} == lock_versions(BUILD_LOCK)["shiv"]


class PyzServer:
    """The zipapp as a server process on 127.0.0.1."""

    def __init__(self, python: Path, pyz: Path, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "groxpi.log"
        env = {**env, "PORT": str(self.port), "GROXPI_HOST": "127.0.0.1"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                image_command(python, pyz), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "exited early:\n" + self.log.read_text()
            try:
                if get(self.url + "/health", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail("not healthy in time:\n" + self.log.read_text())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def pyz_server(
    pyz_setup: tuple[Path, Path, dict[str, str]],
    fake_index: FakeIndex,
    tmp_path: Path,
    elsewhere: Path,
) -> Iterator[PyzServer]:
    python, pyz, env = pyz_setup
    env = {
        **env,
        "GROXPI_INDEX_URL": fake_index.index_url,
        "GROXPI_CACHE_DIR": str(tmp_path / "cache"),
        "GROXPI_DOWNLOAD_TIMEOUT": "0",
    }
    server = PyzServer(python, pyz, env, elsewhere)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.slow
def test_pyz_serves_pip_install_and_stops_cleanly(
    pyz_server: PyzServer, fake_index: FakeIndex, tmp_path: Path
) -> None:
    pyz_server.wait_healthy()
    status, body = get(pyz_server.url + "/health")
    assert status == 200
    assert b'"status"' in body
    assert run_healthcheck(pyz_server.port).returncode == 0

    target = bare_venv(tmp_path / "target")
    install = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(target), "install",
            "--isolated", "--no-cache-dir", "--disable-pip-version-check",
            "--index-url", pyz_server.url + "/simple/", "alpha",
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr + pyz_server.log.read_text()
    versions = subprocess.run(
        [
            str(target), "-c",
            "import importlib.metadata as m; print(m.version('alpha'), m.version('beta'))",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert versions.stdout.split() == ["1.0", "1.0"], versions.stderr  # beta 2.0 is yanked
    assert fake_index.file_requests() >= 2

    started = time.monotonic()
    pyz_server.proc.send_signal(signal.SIGTERM)
    try:
        code = pyz_server.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("no exit within 15 s of SIGTERM:\n" + pyz_server.log.read_text())
    assert code == 0, pyz_server.log.read_text()
    assert time.monotonic() - started < 15
    cache = tmp_path / "cache"
    assert not list(cache.rglob("*.part")), "partial files left in the cache"
    cached = [p.name for p in cache.rglob("*") if p.is_file()]
    assert any(".whl" in name for name in cached), f"nothing was cached: {cached}"


# -- Docker and compose files ----------------------------------------------------


def test_dockerfile_builds_the_zipapp_like_the_tests() -> None:
    instructions = parse_dockerfile()
    froms = [args for word, args in instructions if word == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)
    runs = [args for word, args in instructions if word == "RUN"]
    # the image builds the zipapp with the very command the zipapp tests run
    built = re.compile(rf"(^|&&\s*){re.escape(BUILD_COMMAND)}\s*($|&&)")
    assert any(built.search(r) for r in runs)
    # `docker run groxpi --version`: the zipapp is the entry point, arguments go to it
    assert exec_form("ENTRYPOINT") == ["python", "/app/groxpi.pyz"]
    assert exec_form("CMD") == []


def test_dockerfile_labels_the_image() -> None:
    final = final_stage()
    labels: dict[str, str] = {}
    for word, args in final:
        if word == "LABEL":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                labels[key] = value
    oci = "org.opencontainers.image."
    assert labels[oci + "title"] == "groxpi"
    assert labels[oci + "description"]
    assert labels[oci + "licenses"] == pyproject()["project"]["license"] == "MIT"
    assert labels[oci + "version"] == "${VERSION}"
    assert labels[oci + "source"] == "${SOURCE_URL}"
    args = [a.split("=")[0] for w, a in final if w == "ARG"]
    assert {"VERSION", "SOURCE_URL"} <= set(args)
    # ARGs are declared before the LABEL that uses them
    words = [w for w, _ in final]
    assert words.index("ARG") < words.index("LABEL")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_docker_passes_the_package_version() -> None:
    dry = subprocess.run(
        ["make", "-n", "docker"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    command = shlex.split(dry.stdout.replace("\\\n", " "))
    assert command[:2] == ["docker", "build"]
    pairs = set(itertools.pairwise(command))
    assert ("--build-arg", f"VERSION={__version__}") in pairs
    assert ("-t", f"groxpi:{__version__}") in pairs


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, run here against 127.0.0.1:port."""
    command = exec_form("HEALTHCHECK")
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        env=clean_env(PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("status", [200, 503, 500])
def test_healthcheck_follows_the_health_status_code(status: int) -> None:
    requests: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = b'{"status": "degraded"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proc = run_healthcheck(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert requests == ["/health"]
    assert (proc.returncode == 0) == (status == 200), proc.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert run_healthcheck(free_port()).returncode != 0


def test_dockerfile_runtime_settings() -> None:
    instructions = parse_dockerfile()
    final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    words = dict(final)  # last value of each instruction in the final stage
    assert words.get("USER", "root").split(":")[0] not in ("", "root", "0")
    assert words.get("STOPSIGNAL") == "SIGTERM"
    assert "EXPOSE" in words and "5000" in words["EXPOSE"].split()
    assert "/health" in words.get("HEALTHCHECK", "")
    assert "curl" not in words["HEALTHCHECK"] and "urllib" in words["HEALTHCHECK"]
    envs = " ".join(args for word, args in final if word == "ENV")
    assert "GROXPI_CACHE_DIR=/var/cache/groxpi" in envs
    assert "/var/cache/groxpi" in words.get("VOLUME", "")
    copies = [args for word, args in final if word == "COPY"]
    assert copies == [
        "--from=builder /src/dist/groxpi.pyz /app/groxpi.pyz",
        "--from=builder /src/LICENSE /app/LICENSE",
    ]


def test_dockerignore_sends_what_the_build_needs(tmp_path: Path) -> None:
    context = make_docker_context(tmp_path / "context")
    needed_files = (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "build_zipapp.py",
        "requirements/runtime.txt",
        "requirements/build.txt",
        "groxpi/__main__.py",
    )
    for needed in needed_files:
        assert (context / needed).is_file(), needed
    assert (context / "groxpi/web/templates/home.html").is_file()
    assert not list(context.rglob("__pycache__"))
    assert not (context / "tests").exists() and not (context / ".git").exists()


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file(path: Path) -> None:
    data = load_compose(path)
    services = data["services"]
    groxpi = services["groxpi"]
    assert groxpi["build"]["dockerfile"] == "docker/Dockerfile"
    assert (path.parent / groxpi["build"]["context"] / "docker" / "Dockerfile").resolve() == (
        DOCKERFILE.resolve()
    )
    assert any(str(p).split(":")[-1] == "5000" for p in groxpi["ports"])
    env = groxpi["environment"]
    assert env["GROXPI_CACHE_DIR"] == "/var/cache/groxpi"
    volumes = [str(v) for v in groxpi["volumes"]]
    named = [v.split(":")[0] for v in volumes if v.endswith(":/var/cache/groxpi")]
    assert named and named[0] in data["volumes"], volumes

    known = config_env_names()
    assert {"GROXPI_CACHE_DIR", "AWS_ENDPOINT_URL", "PORT"} <= known  # the grep works
    for service in services.values():
        for name in service.get("environment") or {}:
            if name.startswith(("GROXPI_", "AWS_")) or name == "PORT":
                assert name in known, f"{path.name}: {name} is not read by groxpi/config.py"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_images_are_pinned(path: Path) -> None:
    services = load_compose(path)["services"]
    for name, service in services.items():
        image = service["image"]
        repository, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag and tag, f"{path.name}: {name} has no tag: {image}"
        assert tag != "latest", f"{path.name}: {name} uses {image}"
        assert not repository.startswith(("minio/", "docker.io/minio/")), (
            f"{path.name}: MinIO's Docker Hub repositories are gone; use quay.io/minio"
        )
    groxpi = services["groxpi"]
    # the tag and version label `make docker` gives, so either build serves the other
    assert groxpi["image"] == f"groxpi:{__version__}"
    assert groxpi["build"]["args"]["VERSION"] == __version__


def test_compose_minio_wires_s3() -> None:
    data = load_compose(DOCKER_DIR / "docker-compose.minio.yml")
    services = data["services"]
    assert {"groxpi", "minio"} <= set(services)
    env = services["groxpi"]["environment"]
    assert env["GROXPI_STORAGE_TYPE"] == "s3"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["GROXPI_S3_FORCE_PATH_STYLE"] == "true"
    assert env["GROXPI_S3_USE_SSL"] == "false"
    for name in ("GROXPI_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env.get(name), name
    one_shot = [
        name
        for name, svc in services.items()
        if "mc mb" in " ".join(map(str, svc.get("command") or []))
    ]
    assert len(one_shot) == 1
    assert services[one_shot[0]]["restart"] == "no"
    depends = services["groxpi"]["depends_on"]
    assert depends[one_shot[0]]["condition"] == "service_completed_successfully"
