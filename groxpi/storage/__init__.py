"""File stores behind one protocol; :func:`create_storage` picks one from config."""

from __future__ import annotations

from ..config import Config
from .base import Storage, StorageError, StoredObject
from .local import LocalStorage

__all__ = ["LocalStorage", "Storage", "StorageError", "StoredObject", "create_storage"]


def create_storage(config: Config) -> Storage:
    """The store GROXPI_STORAGE_TYPE names."""
    if config.storage_type == "s3":
        from .s3 import S3Storage

        assert config.s3 is not None
        return S3Storage(config.s3)
    return LocalStorage(config.cache_dir / "files")
