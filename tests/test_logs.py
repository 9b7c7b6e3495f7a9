"""Log formats: JSON lines with fields and tracebacks, short User-Agents, fatal lines."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from groxpi import logs

PIP_AGENT = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"bookworm","libc":{"lib":"glibc",'
    '"version":"2.36"},"name":"Debian GNU/Linux","version":"12"},"implementation":'
    '{"name":"CPython","version":"3.11.7"},"installer":{"name":"pip","version":"24.0"},'
    '"openssl_version":"OpenSSL 3.0.11 19 Sep 2023","python":"3.11.7","rustc_version":"1.75.0",'
    '"setuptools_version":"69.0.3","system":{"name":"Linux","release":"6.1.0-17-amd64"}}'
)


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("groxpi.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_json_line_has_the_standard_fields() -> None:
    line = logs.JsonFormatter().format(record("cannot store %s", "a.whl"))
    assert "\n" not in line
    fields = json.loads(line)
    assert list(fields)[:5] == ["timestamp", "level", "logger", "message", "worker"]
    assert fields["level"] == "WARNING" and fields["logger"] == "groxpi.test"
    assert fields["message"] == "cannot store a.whl"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", fields["timestamp"])
    assert isinstance(fields["worker"], int)


def test_json_line_carries_extras_and_the_exception_on_one_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        made = record("failed", status=502, path="/simple/x/", odd=object())
        made.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(made)
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["status"] == 502 and fields["path"] == "/simple/x/"
    assert fields["odd"].startswith("<object object")  # not JSON: written as its repr
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("ValueError: bad\nvalue")


def test_extras_never_replace_the_standard_fields() -> None:
    fields = json.loads(logs.JsonFormatter().format(record("real", level="fake", worker="x")))
    assert fields["level"] == "WARNING" and isinstance(fields["worker"], int)


def test_user_agents_are_shortened_for_text_lines() -> None:
    assert logs.short_user_agent(PIP_AGENT) == "pip/24.0"
    assert logs.short_user_agent('uv/0.4.18 {"installer":{"name":"uv"}}') == "uv/0.4.18"
    assert logs.short_user_agent("curl/7.88.1") == "curl/7.88.1"
    long = "Mozilla/5.0 " + "x" * 200
    assert len(logs.short_user_agent(long)) == 80 and logs.short_user_agent(long).endswith("...")


@pytest.mark.parametrize("as_json", [False, True])
def test_fatal_is_one_line(as_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    logs.fatal("storage unusable: read-only", json=as_json)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    if as_json:
        fields = json.loads(lines[0])
        assert (fields["level"], fields["logger"]) == ("CRITICAL", "groxpi")
        assert fields["message"] == "storage unusable: read-only"
    else:
        assert lines == ["groxpi: storage unusable: read-only"]
