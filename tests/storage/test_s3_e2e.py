"""S3 storage end to end: groxpi replicas sharing one bucket, and S3 outages."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import GroxpiFactory
from tests.storage.conftest import unique_bucket
from tests.support.fake_index import FakeIndex, Fault
from tests.support.installers import installed_version, make_venv, uv_install
from tests.support.moto import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from tests.support.server import GroxpiProcess

WHEEL = "alpha-1.0-py3-none-any.whl"


def s3_env(moto: MotoServer, bucket: str, **extra: object) -> dict[str, object]:
    return {
        "GROXPI_STORAGE_TYPE": "s3",
        "GROXPI_S3_BUCKET": bucket,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "GROXPI_S3_FORCE_PATH_STYLE": "true",
        **extra,
    }


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def first_replica(
    groxpi_server: GroxpiFactory, moto_s3: MotoServer, tmp_path: Path
) -> tuple[str, GroxpiProcess]:
    """A replica on a new bucket that has installed ``alpha`` with uv."""
    if not moto_s3.running:
        moto_s3.start()
    bucket = unique_bucket()
    replica = groxpi_server(**s3_env(moto_s3, bucket, GROXPI_S3_CREATE_BUCKET="true"))
    uv_install(make_venv(tmp_path / "a", with_pip=False), f"{replica.url}/simple/", "alpha")
    return bucket, replica


@pytest.mark.slow
def test_replicas_share_the_bucket(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, moto_s3: MotoServer, tmp_path: Path
) -> None:
    bucket, _ = first_replica(groxpi_server, moto_s3, tmp_path)
    downloads = fake_index.file_requests()
    assert downloads > 0
    fake_index.set_fault("*files*", Fault.status(503))
    replica_b = groxpi_server(**s3_env(moto_s3, bucket))
    uv_install(make_venv(tmp_path / "b", with_pip=False), f"{replica_b.url}/simple/", "alpha")
    assert fake_index.file_requests() == downloads  # B served every file from the bucket
    data = fake_index.file(WHEEL).data
    status, body = get(f"{replica_b.url}/simple/alpha/{WHEEL}", {"Range": "bytes=100-199"})
    assert (status, body) == (206, data[100:200])
    status, body = get(f"{replica_b.url}/simple/alpha/{WHEEL}", {"Range": "bytes=-10"})
    assert (status, body) == (206, data[-10:])
    status, body = get(f"{replica_b.url}/simple/alpha/{WHEEL}")
    assert (status, body) == (200, data)
    assert not list((tmp_path).rglob("*.part"))


@pytest.mark.slow
def test_a_new_replica_serves_pages_and_files_from_the_bucket_while_upstream_is_down(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, moto_s3: MotoServer, tmp_path: Path
) -> None:
    bucket, replica_a = first_replica(groxpi_server, moto_s3, tmp_path)
    assert replica_a.stop() == 0
    fake_index.stop()  # upstream refuses connections from now on
    replica_b = groxpi_server(**s3_env(moto_s3, bucket))  # an empty local cache directory
    python = make_venv(tmp_path / "b", with_pip=False)
    uv_install(python, f"{replica_b.url}/simple/", "alpha")
    assert installed_version(python, "beta") == "1.0"
    assert not list((replica_b.cache_dir / "index").rglob("*.page"))  # pages came from S3


@pytest.mark.slow
def test_presigned_redirect(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, moto_s3: MotoServer
) -> None:
    if not moto_s3.running:
        moto_s3.start()
    bucket = unique_bucket()
    server = groxpi_server(
        **s3_env(moto_s3, bucket, GROXPI_S3_CREATE_BUCKET="true", GROXPI_S3_REDIRECT="true")
    )
    data = fake_index.file(WHEEL).data
    assert get(f"{server.url}/simple/alpha/{WHEEL}") == (200, data)  # cold: streamed
    for _ in range(50):
        status, body = get(f"{server.url}/simple/alpha/{WHEEL}")  # warm: via the bucket
        if fake_index.file_requests(WHEEL) == 1 and (status, body) == (200, data):
            break
        time.sleep(0.05)
    assert (status, body) == (200, data)


def test_startup_fails_clearly_without_bucket(
    groxpi_server: GroxpiFactory, moto_s3: MotoServer
) -> None:
    if not moto_s3.running:
        moto_s3.start()
    with pytest.raises(Exception, match="GROXPI_S3_CREATE_BUCKET"):
        groxpi_server(**s3_env(moto_s3, unique_bucket()))


@pytest.mark.slow
def test_s3_outage_gives_5xx_then_recovers(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    with MotoServer() as moto:
        bucket = unique_bucket()
        server = groxpi_server(**s3_env(moto, bucket, GROXPI_S3_CREATE_BUCKET="true"))
        data = fake_index.file(WHEEL).data
        assert get(f"{server.url}/simple/alpha/{WHEEL}") == (200, data)
        moto.stop()
        status, body = get(f"{server.url}/simple/alpha/{WHEEL}")
        assert status in (502, 503), body
        assert b"Traceback" not in body and len(body) < 300
        health = get(f"{server.url}/health")
        assert health[0] == 503 and b'"unavailable"' in health[1]  # out of the load balancer
        moto.start()  # a fresh, empty moto: the bucket has to come back too
        moto.create_bucket(bucket)
        assert get(f"{server.url}/simple/alpha/{WHEEL}") == (200, data)
        assert get(f"{server.url}/health")[0] == 200
        assert server.running()
