"""The command line: --help, --version, start-up errors, workers, signals."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from groxpi import __version__
from tests.conftest import GroxpiFactory
from tests.support.server import REPO_ROOT, _clean_environ, free_port


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groxpi", *args],
        env={**_clean_environ(), "GROXPI_HOST": "127.0.0.1", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith(f"groxpi {__version__} (CPython 3.")
    helped = run_cli("--help")
    assert helped.returncode == 0
    assert "GROXPI_INDEX_URL" in helped.stdout and "PROXPI_X" in helped.stdout


def test_help_and_readme_name_every_variable_the_config_reads() -> None:
    source = (REPO_ROOT / "groxpi" / "config.py").read_text()
    variables = set(re.findall(r'"((?:GROXPI|AWS)_[A-Z0-9][A-Z0-9_]*)"', source)) | {"PORT"}
    assert len(variables) > 30
    helped = run_cli("--help").stdout
    readme = (REPO_ROOT / "README.md").read_text()
    assert sorted(v for v in variables if v not in helped) == []
    assert sorted(v for v in variables if f"`{v}`" not in readme) == []


def test_invalid_config_is_one_line_naming_the_variable() -> None:
    result = run_cli(GROXPI_CACHE_SIZE="5XB", PORT=str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'groxpi: invalid configuration: GROXPI_CACHE_SIZE: cannot parse "5XB" as a size'
    ]


def test_bad_auth_file_stops_startup_with_one_line(tmp_path: Path) -> None:
    auth_file = tmp_path / "htpasswd"
    auth_file.write_text("alice:$apr1$md5-is-not-accepted\n")
    result = run_cli(GROXPI_AUTH_FILE=str(auth_file), PORT=str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"groxpi: invalid configuration: GROXPI_AUTH_FILE: {auth_file}: line 1: "
        "user 'alice' has no bcrypt hash (make it with htpasswd -B)"
    ]
    auth_file.unlink()
    missing = run_cli(GROXPI_AUTH_FILE=str(auth_file), PORT=str(free_port()))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"groxpi: invalid configuration: GROXPI_AUTH_FILE: cannot read {auth_file}: "
        "No such file or directory"
    ]


def test_invalid_log_format_is_one_line() -> None:
    result = run_cli(GROXPI_LOG_FORMAT="yaml", PORT=str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'groxpi: invalid configuration: GROXPI_LOG_FORMAT: "yaml" is not a log format '
        "(text or json)"
    ]


def test_start_up_errors_are_json_with_json_logs(tmp_path: Path) -> None:
    invalid = run_cli(GROXPI_LOG_FORMAT="json", GROXPI_CACHE_SIZE="5XB", PORT=str(free_port()))
    assert invalid.returncode == 2
    [line] = invalid.stderr.strip().splitlines()
    assert json.loads(line)["message"] == (
        'invalid configuration: GROXPI_CACHE_SIZE: cannot parse "5XB" as a size'
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unusable = run_cli(
        GROXPI_LOG_FORMAT="json", GROXPI_CACHE_DIR=str(blocker / "cache"), PORT=str(free_port())
    )
    assert unusable.returncode == 1
    lines = [json.loads(line) for line in unusable.stderr.strip().splitlines()]
    assert "listening on" in lines[0]["message"]
    assert lines[-1]["level"] == "CRITICAL"
    assert lines[-1]["message"].startswith("storage unusable:")


def test_unusable_cache_dir_stops_startup(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli(GROXPI_CACHE_DIR=str(blocker / "cache"), PORT=str(free_port()))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("groxpi: storage unusable:") and str(blocker) in last
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(PORT=str(port))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"groxpi: cannot listen on 127.0.0.1:{port}")


def test_two_workers_serve_and_stop_cleanly(groxpi_server: GroxpiFactory) -> None:
    server = groxpi_server(GROXPI_WORKERS=2)
    for _ in range(20):  # new connections are spread over both processes
        with urllib.request.urlopen(f"{server.url}/simple/alpha/", timeout=10) as response:
            assert response.status == 200
    assert server.stop() == 0


def test_bad_s3_endpoint_is_one_line() -> None:
    result = run_cli(
        GROXPI_STORAGE_TYPE="s3",
        GROXPI_S3_BUCKET="b",
        AWS_ENDPOINT_URL="ftp://example.invalid",
        PORT=str(free_port()),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("groxpi: storage unusable:")
