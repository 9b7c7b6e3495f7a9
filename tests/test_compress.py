"""Compressed bodies: standard gzip and zlib streams that any reader decodes byte-exact."""

from __future__ import annotations

import gzip
import io
import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from groxpi import compress


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=20_000) | st.text(max_size=5_000).map(str.encode))
def test_compressed_bodies_are_standard_streams(body: bytes) -> None:
    gz = compress.gzip_body(body)
    assert gz[:3] == b"\x1f\x8b\x08" and gz[4:8] == b"\0\0\0\0"  # RFC 1952, mtime 0
    assert gzip.decompress(gz) == body
    member = zlib.decompressobj(wbits=31)
    assert member.decompress(gz) == body and member.eof and not member.unused_data  # one member
    df = compress.deflate_body(body)
    assert (df[0] & 0x0F) == 8 and (df[0] << 8 | df[1]) % 31 == 0  # RFC 1950 header
    assert zlib.decompress(df) == body  # a zlib stream, not raw deflate
    assert compress.gzip_body(body) == gz and compress.deflate_body(body) == df


def test_big_bodies_decode_the_way_http_clients_read_them() -> None:
    rng = random.Random(1952)
    words = [rng.randbytes(rng.randint(2, 12)).hex().encode() for _ in range(5_000)]
    body = b" ".join(rng.choice(words) for _ in range(600_000))  # ~5 MB, many blocks
    gz = compress.gzip_body(body)
    with gzip.GzipFile(fileobj=io.BytesIO(gz)) as stream:  # read as a file, in pieces
        assert b"".join(iter(lambda: stream.read(65536), b"")) == body
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)  # how urllib3 (pip) reads gzip
    assert b"".join(reader.decompress(gz[i : i + 8192]) for i in range(0, len(gz), 8192)) == body
    df = compress.deflate_body(body)
    reader = zlib.decompressobj()  # and deflate: a zlib stream first
    assert reader.decompress(df) + reader.flush() == body and reader.eof
    assert len(gz) < len(body) / 2
