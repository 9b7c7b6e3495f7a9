"""msgspec Structs for PEP 691 simple-index documents (API 1.0 to 1.4).

Unknown keys are ignored on decode; optional keys left unset are omitted on
encode, so a page passes through with exactly the fields upstream gave.
"""

from __future__ import annotations

from typing import Any

import msgspec

UNSET: Any = msgspec.UNSET

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
SUPPORTED_MINOR = 4
"""Highest PEP 691 API minor version whose keys this proxy carries through."""


class Meta(msgspec.Struct, kw_only=True, omit_defaults=True, rename="kebab"):
    api_version: str
    # a private PyPI field: some mirrors send it as a string, so take either and pass it on
    last_serial: int | str | msgspec.UnsetType = msgspec.field(default=UNSET, name="_last-serial")


class ProjectStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """PEP 792 project status marker."""

    status: str = "active"
    reason: str | msgspec.UnsetType = UNSET


class File(msgspec.Struct, kw_only=True, omit_defaults=True, rename="kebab"):
    """One distribution file; ``url`` is absolute after parsing."""

    filename: str
    url: str
    hashes: dict[str, str]
    requires_python: str | msgspec.UnsetType | None = UNSET
    yanked: bool | str | msgspec.UnsetType = UNSET
    size: int | msgspec.UnsetType = UNSET
    upload_time: str | msgspec.UnsetType | None = UNSET
    core_metadata: bool | dict[str, str] | msgspec.UnsetType = UNSET
    dist_info_metadata: bool | dict[str, str] | msgspec.UnsetType = UNSET
    gpg_sig: bool | msgspec.UnsetType = UNSET
    provenance: str | msgspec.UnsetType | None = UNSET

    @property
    def metadata(self) -> bool | dict[str, str] | msgspec.UnsetType:
        """The PEP 658 flag: ``core-metadata``, or its older name (PEP 714)."""
        if isinstance(self.core_metadata, bool | dict):
            return self.core_metadata
        return self.dist_info_metadata

    @property
    def metadata_hashes(self) -> dict[str, str] | None:
        """Hashes of the PEP 658 metadata file, or None when upstream has none."""
        metadata = self.metadata
        if isinstance(metadata, dict):
            return metadata
        return {} if metadata is True else None


class ProjectPage(msgspec.Struct, kw_only=True, omit_defaults=True, rename="kebab"):
    meta: Meta
    name: str
    files: list[File]
    versions: list[str] | msgspec.UnsetType = UNSET
    project_status: ProjectStatus | msgspec.UnsetType = UNSET
    alternate_locations: list[str] | msgspec.UnsetType = UNSET  # PEP 708
    tracks: list[str] | msgspec.UnsetType = UNSET  # PEP 708

    @property
    def quarantined(self) -> bool:
        return isinstance(self.project_status, ProjectStatus) and (
            self.project_status.status == "quarantined"
        )


class ProjectEntry(msgspec.Struct, kw_only=True, omit_defaults=True, rename="kebab"):
    name: str
    # a private PyPI field: some mirrors send it as a string, so take either and pass it on
    last_serial: int | str | msgspec.UnsetType = msgspec.field(default=UNSET, name="_last-serial")


class ProjectList(msgspec.Struct, kw_only=True, omit_defaults=True):
    meta: Meta
    projects: list[ProjectEntry]


project_page_decoder = msgspec.json.Decoder(ProjectPage)
project_list_decoder = msgspec.json.Decoder(ProjectList)
json_encoder = msgspec.json.Encoder()
