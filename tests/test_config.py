from pathlib import Path

import pytest
from yarl import URL

from groxpi.config import ConfigError, load_config, parse_size, requested_log_format


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        ("5GB", 5_000_000_000),
        ("500MiB", 500 * 1024**2),
        ("1.5 kb", 1500),
        ("2TiB", 2 * 1024**4),
        ("7B", 7),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_defaults() -> None:
    config = load_config({})
    assert config.port == 5000
    assert config.host == "0.0.0.0"
    assert config.index.url == URL("https://pypi.org/simple/")
    assert config.index.ttl == 1800
    assert config.cache_size == 5_000_000_000
    assert config.storage_type == "local"
    assert config.download_timeout == 0.9
    assert (config.connect_timeout, config.read_timeout) == (3.1, 20.0)
    assert config.verify_ssl and not config.access_log and config.admin_token is None


def test_groxpi_values_and_proxpi_fallback() -> None:
    config = load_config(
        {
            "PROXPI_INDEX_URL": "http://proxpi.example/simple",
            "GROXPI_INDEX_TTL": "60",
            "PROXPI_INDEX_TTL": "999",
            "PROXPI_CACHE_DIR": "/srv/cache",
            "GROXPI_EXTRA_INDEX_URLS": "http://a.example/simple/, http://b.example/s/",
            "PROXPI_EXTRA_INDEX_TTLS": "10,20",
            "PROXPI_DISABLE_INDEX_SSL_VERIFICATION": "1",
            "GROXPI_WORKERS": "2",
            "PORT": "8080",
        }
    )
    assert config.index.url == URL("http://proxpi.example/simple/")  # slash added
    assert config.index.ttl == 60  # GROXPI_ wins over PROXPI_
    assert config.cache_dir == Path("/srv/cache")
    assert [(str(u.url), u.ttl) for u in config.upstreams[1:]] == [
        ("http://a.example/simple/", 10.0),
        ("http://b.example/s/", 20.0),
    ]
    assert not config.verify_ssl
    assert config.workers == 2 and config.port == 8080


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GROXPI_CACHE_SIZE": "5XB"}, 'GROXPI_CACHE_SIZE: cannot parse "5XB" as a size'),
        ({"PORT": "http"}, "PORT:"),
        ({"PORT": "70000"}, "PORT:"),
        ({"GROXPI_INDEX_TTL": "-1"}, "GROXPI_INDEX_TTL:"),
        ({"GROXPI_INDEX_URL": "ftp://x/"}, "GROXPI_INDEX_URL:"),
        ({"GROXPI_EXTRA_INDEX_URLS": "nope"}, "GROXPI_EXTRA_INDEX_URLS:"),
        (
            {"GROXPI_EXTRA_INDEX_URLS": "http://a/", "GROXPI_EXTRA_INDEX_TTLS": "1,2"},
            "GROXPI_EXTRA_INDEX_TTLS:",
        ),
        ({"GROXPI_STORAGE_TYPE": "ftp"}, "GROXPI_STORAGE_TYPE:"),
        ({"GROXPI_STORAGE_TYPE": "s3"}, "GROXPI_S3_BUCKET:"),
        ({"GROXPI_LOGGING_LEVEL": "LOUD"}, "GROXPI_LOGGING_LEVEL:"),
        (
            {"GROXPI_S3_USE_SSL": "maybe", "GROXPI_STORAGE_TYPE": "s3", "GROXPI_S3_BUCKET": "b"},
            "GROXPI_S3_USE_SSL:",
        ),
        ({"GROXPI_WORKERS": "0"}, "GROXPI_WORKERS:"),
        ({"GROXPI_DOWNLOAD_TIMEOUT": "soon"}, "GROXPI_DOWNLOAD_TIMEOUT:"),
        (
            {"GROXPI_PROJECT_INDEXES": "corp-*=https://elsewhere.example/simple/"},
            "GROXPI_PROJECT_INDEXES: https://elsewhere.example/simple/ is not GROXPI_INDEX_URL",
        ),
        ({"GROXPI_PROJECT_INDEXES": "corp-*"}, 'GROXPI_PROJECT_INDEXES: "corp-*" is not pattern='),
        ({"GROXPI_DENY_PROJECTS": "bad/name"}, "GROXPI_DENY_PROJECTS:"),
        ({"GROXPI_ALLOW_PROJECTS": "ok, sp ace"}, "GROXPI_ALLOW_PROJECTS:"),
        ({"GROXPI_DENY_STATUS": "500"}, "GROXPI_DENY_STATUS:"),
        ({"GROXPI_MIN_RELEASE_AGE": "a week"}, "GROXPI_MIN_RELEASE_AGE:"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_s3_settings() -> None:
    config = load_config(
        {
            "GROXPI_STORAGE_TYPE": "S3",
            "GROXPI_S3_BUCKET": "wheels",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "GROXPI_S3_USE_SSL": "false",
            "GROXPI_S3_FORCE_PATH_STYLE": "true",
            "GROXPI_S3_PREFIX": "/cache/",
        }
    )
    assert config.s3 is not None
    assert config.s3.bucket == "wheels" and config.s3.prefix == "cache"
    assert config.s3.region == "eu-west-1"
    assert not config.s3.use_ssl and config.s3.force_path_style


def test_policies() -> None:
    config = load_config(
        {
            "GROXPI_INDEX_URL": "https://user:secret@pypi.internal/simple",
            "GROXPI_EXTRA_INDEX_URLS": "https://pypi.example/simple/",
            "GROXPI_PROJECT_INDEXES": (
                "MyCorp_*=https://pypi.internal/simple/, internal.lib=https://pypi.example/simple"
            ),
            "PROXPI_DENY_PROJECTS": "Evil_*,bad",
            "GROXPI_ALLOW_PROJECTS": "",
            "GROXPI_DENY_STATUS": "403",
            "GROXPI_MIN_RELEASE_AGE": "36h",
            "GROXPI_MIN_RELEASE_AGE_EXEMPT": "urgent-*",
        }
    )
    policies = config.policies
    assert [(pin.pattern, pin.index) for pin in policies.pins] == [
        ("mycorp-*", 0),  # matched without the credentials the index URL carries
        ("internal-lib", 1),
    ]
    assert policies.deny == ("evil-*", "bad") and policies.allow == ()
    assert policies.deny_status == 403
    assert policies.min_release_age == 36 * 3600
    assert policies.min_release_age_exempt == ("urgent-*",)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800), ("90m", 5400), ("45", 45), ("1.5h", 5400), ("2w", 1209600)],
)
def test_release_age_durations(text: str, seconds: float) -> None:
    assert load_config({"GROXPI_MIN_RELEASE_AGE": text}).policies.min_release_age == seconds


def test_secrets_from_files(tmp_path: Path) -> None:
    token, key, secret = tmp_path / "token", tmp_path / "key", tmp_path / "secret"
    token.write_text("t0ken with spaces \n")
    key.write_text("AKIAEXAMPLE")
    secret.write_text("s3cret\r\n")
    config = load_config(
        {
            "GROXPI_ADMIN_TOKEN_FILE": str(token),
            "GROXPI_STORAGE_TYPE": "s3",
            "GROXPI_S3_BUCKET": "b",
            "AWS_ACCESS_KEY_ID_FILE": str(key),
            "AWS_SECRET_ACCESS_KEY_FILE": str(secret),
        }
    )
    assert config.admin_token == "t0ken with spaces "  # only the trailing newline goes
    assert config.s3 is not None
    assert (config.s3.access_key, config.s3.secret_key) == ("AKIAEXAMPLE", "s3cret")
    proxpi = load_config({"PROXPI_ADMIN_TOKEN_FILE": str(token)})  # the fallback holds here too
    assert proxpi.admin_token == "t0ken with spaces "
    plain = load_config({"GROXPI_ADMIN_TOKEN": "direct", "GROXPI_ADMIN_TOKEN_FILE": ""})
    assert plain.admin_token == "direct"  # an empty *_FILE is unset, like other variables


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GROXPI_ADMIN_TOKEN": "x", "GROXPI_ADMIN_TOKEN_FILE": "{token}"},
            "GROXPI_ADMIN_TOKEN and GROXPI_ADMIN_TOKEN_FILE: set one of them, not both",
        ),
        (
            {"PROXPI_ADMIN_TOKEN": "x", "GROXPI_ADMIN_TOKEN_FILE": "{token}"},
            "PROXPI_ADMIN_TOKEN and GROXPI_ADMIN_TOKEN_FILE: set one",
        ),
        (
            {"GROXPI_ADMIN_TOKEN_FILE": "{missing}"},
            "GROXPI_ADMIN_TOKEN_FILE: cannot read {missing}: No such file or directory",
        ),
        ({"GROXPI_ADMIN_TOKEN_FILE": "{dir}"}, "GROXPI_ADMIN_TOKEN_FILE: cannot read {dir}:"),
        ({"GROXPI_ADMIN_TOKEN_FILE": "{empty}"}, "GROXPI_ADMIN_TOKEN_FILE: {empty} is empty"),
        ({"GROXPI_ADMIN_TOKEN_FILE": "{binary}"}, "GROXPI_ADMIN_TOKEN_FILE: cannot read {binary}"),
        (
            {
                "GROXPI_STORAGE_TYPE": "s3",
                "GROXPI_S3_BUCKET": "b",
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_SECRET_ACCESS_KEY_FILE": "{token}",
            },
            "AWS_SECRET_ACCESS_KEY and AWS_SECRET_ACCESS_KEY_FILE:",
        ),
        (
            {
                "GROXPI_STORAGE_TYPE": "s3",
                "GROXPI_S3_BUCKET": "b",
                "AWS_ACCESS_KEY_ID_FILE": "{missing}",
            },
            "AWS_ACCESS_KEY_ID_FILE: cannot read",
        ),
    ],
)
def test_secret_file_errors_name_the_variables(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    paths = {
        "token": tmp_path / "token",
        "missing": tmp_path / "missing",
        "dir": tmp_path,
        "empty": tmp_path / "empty",
        "binary": tmp_path / "binary",
    }
    paths["token"].write_text("t\n")
    paths["empty"].write_text("\n")
    paths["binary"].write_bytes(b"\xff\xfe\x00")
    fill = {name: str(path) for name, path in paths.items()}
    with pytest.raises(ConfigError) as info:
        load_config({k: v.format(**fill) for k, v in env.items()})
    assert str(info.value).startswith(message.format(**fill))
    assert "\n" not in str(info.value)


def test_auth_file(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text("alice:$2y$04$" + "a" * 53 + "\n")
    config = load_config({"PROXPI_AUTH_FILE": str(path), "GROXPI_AUTH_METRICS": "true"})
    assert (config.auth_file, config.auth_metrics) == (path, True)
    assert load_config({"GROXPI_AUTH_FILE": str(path)}).auth_metrics is False
    assert load_config({}).auth_file is None


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        (None, {}, "GROXPI_AUTH_FILE: cannot read {path}: No such file or directory"),
        ("alice:$apr1$x$y\n", {}, "GROXPI_AUTH_FILE: {path}: line 1: user 'alice' has no bcrypt"),
        ("# nobody\n", {}, "GROXPI_AUTH_FILE: {path} has no users"),
        ("alice:$2y$04$" + "a" * 53, {"GROXPI_AUTH_METRICS": "maybe"}, "GROXPI_AUTH_METRICS:"),
    ],
)
def test_auth_file_errors(
    tmp_path: Path, content: str | None, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "htpasswd"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config({"GROXPI_AUTH_FILE": str(path), **env})
    assert str(info.value).startswith(message.format(path=path))
    assert "\n" not in str(info.value)


def test_auth_metrics_needs_an_auth_file() -> None:
    with pytest.raises(ConfigError, match=r"^GROXPI_AUTH_METRICS: needs GROXPI_AUTH_FILE"):
        load_config({"GROXPI_AUTH_METRICS": "true"})
    assert load_config({"GROXPI_AUTH_METRICS": "false"}).auth_metrics is False


def test_log_format() -> None:
    assert load_config({}).log_format == "text"
    assert load_config({"GROXPI_LOG_FORMAT": " JSON "}).log_format == "json"
    assert load_config({"PROXPI_LOG_FORMAT": "json"}).log_format == "json"
    assert load_config({"GROXPI_LOG_FORMAT": "text", "PROXPI_LOG_FORMAT": "json"}).log_format == (
        "text"
    )
    with pytest.raises(ConfigError, match=r'^GROXPI_LOG_FORMAT: "yaml" is not a log format'):
        load_config({"GROXPI_LOG_FORMAT": "yaml"})


def test_requested_log_format_for_reporting_config_errors() -> None:
    assert requested_log_format({"GROXPI_LOG_FORMAT": "json", "GROXPI_CACHE_SIZE": "5XB"}) == "json"
    assert requested_log_format({"GROXPI_LOG_FORMAT": "yaml"}) == "text"
    assert requested_log_format({}) == "text"
