"""The htpasswd parser: what start-up accepts and what it stops on."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from groxpi.htpasswd import HtpasswdError, parse_htpasswd, read_htpasswd

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()  # $2b$04$...
SALT_AND_HASH = HASH[7:]


def test_bcrypt_entries_of_every_label_and_comments() -> None:
    text = (
        "# made with htpasswd -B\n"
        f"alice:$2y$05${SALT_AND_HASH}\n"
        "\n"
        f"bob:$2a$04${SALT_AND_HASH}\r\n"
        f"  carol:{HASH}  \n"
        f"dörte:$2b$12${SALT_AND_HASH}\n"
    )
    users = parse_htpasswd(text)
    assert [name for name, _ in users.entries] == [b"alice", b"bob", b"carol", "dörte".encode()]
    assert users.entries[0][1] == f"$2y$05${SALT_AND_HASH}".encode()
    assert users.cost == 12  # the highest: what every check must cost
    assert users.lowest_cost == 4  # where padding up to it starts
    assert len(users) == 4


def test_no_users_is_parsed_as_empty() -> None:
    nobody = parse_htpasswd("# nobody yet\n")
    assert len(nobody) == 0 and nobody.cost == nobody.lowest_cost == 10  # htpasswd -B's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice\n", "line 1: not user:hash"),
        (f":{HASH}\n", "line 1: not user:hash"),
        ("# c\nalice:$apr1$abc$def\n", "line 2: user 'alice' has no bcrypt hash"),
        ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "line 1: user 'alice' has no bcrypt hash"),
        ("alice:plain\n", "line 1: user 'alice' has no bcrypt hash"),
        (f"alice:$2x$04${SALT_AND_HASH}\n", "line 1: user 'alice' has no bcrypt hash"),
        (f"alice:{HASH[:-1]}\n", "line 1: user 'alice' has no bcrypt hash"),
        (f"alice:$2y$03${SALT_AND_HASH}\n", "line 1: bcrypt cost 03 is out of range"),
        (f"alice:{HASH}\nalice:{HASH}\n", "line 2: user 'alice' appears twice"),
    ],
)
def test_invalid_lines_are_named_without_the_hash(text: str, message: str) -> None:
    with pytest.raises(HtpasswdError) as info:
        parse_htpasswd(text)
    assert str(info.value).startswith(message)
    assert SALT_AND_HASH not in str(info.value)


def test_read_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    with pytest.raises(HtpasswdError, match=f"cannot read {path}: No such file"):
        read_htpasswd(path)
    path.write_text("alice:nope\n")
    with pytest.raises(HtpasswdError, match=f"^{path}: line 1: "):
        read_htpasswd(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(HtpasswdError, match="not UTF-8"):
        read_htpasswd(path)
    path.write_text(f"alice:{HASH}\n")
    assert read_htpasswd(path).entries == ((b"alice", HASH.encode()),)
