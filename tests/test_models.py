"""msgspec models of PEP 691 documents."""

from __future__ import annotations

from groxpi.models import json_encoder, project_list_decoder, project_page_decoder


def test_last_serial_as_string_is_accepted_and_passed_through() -> None:
    page = project_page_decoder.decode(
        b'{"meta": {"api-version": "1.1", "_last-serial": "42655285"}, "name": "numpy",'
        b' "files": [], "versions": []}'
    )
    assert page.meta.last_serial == "42655285"
    assert b'"_last-serial":"42655285"' in json_encoder.encode(page)
    listing = project_list_decoder.decode(
        b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "a", "_last-serial": 7}]}'
    )
    assert listing.projects[0].last_serial == 7


def test_unknown_keys_are_ignored_and_metadata_alias_is_read() -> None:
    page = project_page_decoder.decode(
        b'{"meta": {"api-version": "1.0", "future": 1}, "name": "a", "new-key": [],'
        b' "files": [{"filename": "a-1.whl", "url": "u", "hashes": {},'
        b' "dist-info-metadata": {"sha256": "ab"}}]}'
    )
    (file,) = page.files
    assert file.metadata == {"sha256": "ab"}
    assert file.metadata_hashes == {"sha256": "ab"}
