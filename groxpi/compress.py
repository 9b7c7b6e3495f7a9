"""gzip and deflate bodies made with ISA-L: standard streams, about 9 times faster than zlib.

Measured (fastest of 40 runs) on a 3,000-file project page: its JSON (0.95 MB)
takes zlib level 6 16 ms for 222.8 kB, ISA-L level 1 1.8 ms for 220.4 kB; its
HTML (0.80 MB) 17.7 ms for 212.1 kB against 1.7 ms for 218.2 kB. On a
400,000-project list (19.5 MB of JSON, 19.0 MB of HTML): 440 and 370 ms
against 53 and 34 ms, 3.6 % and 16 % larger. zlib-ng takes 5.3 ms (level 2,
216.7 kB) to 13.6 ms (level 6, 210.2 kB) on the page's JSON. The streams are
plain RFC 1952 / RFC 1950: any gzip or zlib reader decodes them.
"""

from __future__ import annotations

from isal import igzip, isal_zlib

LEVEL = 1
"""ISA-L's fastest real level (0 is 50 % larger): as small as its level 2 on these
pages, and 3 times faster than its level 3, which is no smaller on a page."""


def gzip_body(body: bytes | memoryview) -> bytes:
    """A gzip member (RFC 1952) with mtime 0, so equal bodies give equal bytes."""
    return igzip.compress(body, LEVEL, mtime=0)


def deflate_body(body: bytes | memoryview) -> bytes:
    """What HTTP ``Content-Encoding: deflate`` means: a zlib stream (RFC 1950), not raw
    deflate."""
    return isal_zlib.compress(body, LEVEL)
