"""Page sources: the upstream indexes and the policies on their pages, in one pipeline.

:func:`build_sources` is the one place that fixes the order::

    ProjectFilter -> Cooldown -> Quarantine -> StoredPages -> Pinned(rules, fallback=Merged)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..leases import Leases
from ..pagestore import Blobs, PageStore, namespace_of
from ..upstream import UpstreamClient
from .base import Fetched, NamePatterns, PageSource, Refused, Wrapper
from .cooldown import Cooldown
from .index import IndexSource
from .merge import Merged
from .pinning import Pinned
from .project_filter import ProjectFilter
from .quarantine import Quarantine
from .stored import StoredPages

__all__ = [
    "Cooldown",
    "Fetched",
    "IndexSource",
    "Merged",
    "NamePatterns",
    "PageSource",
    "Pinned",
    "ProjectFilter",
    "Quarantine",
    "Refused",
    "Sources",
    "StoredPages",
    "Wrapper",
    "build_sources",
]


@dataclass(frozen=True, slots=True)
class Sources:
    """The pipeline's outer end, and the parts that report on /metrics."""

    pages: PageSource
    stored: StoredPages
    cooldown: Cooldown | None = None


def build_sources(config: Config, client: UpstreamClient, blobs: Blobs) -> Sources:
    """Stack the indexes and the configured policies in their fixed order."""
    policies = config.policies
    indexes = [IndexSource(client, upstream) for upstream in config.upstreams]
    source: PageSource = Merged(indexes)
    if policies.pins:
        rules = [(NamePatterns((pin.pattern,)), indexes[pin.index]) for pin in policies.pins]
        source = Pinned(rules, fallback=source)
    # What the store holds depends on the indexes and pins: keyed by them.
    shape = [index.key for index in indexes] + [f"{p.pattern}={p.index}" for p in policies.pins]
    store = PageStore(blobs, namespace_of(shape))
    # One refresh at a time across the processes sharing the cache directory.
    leases = Leases(config.cache_dir / "leases")
    wait = 2 * (config.connect_timeout + config.read_timeout) or 60.0
    source = stored = StoredPages(
        source, store, offline=config.offline, leases=leases, lease_wait=wait
    )
    source = Quarantine(source)
    cooldown = None
    if policies.min_release_age > 0:
        exempt = NamePatterns(policies.min_release_age_exempt)
        source = cooldown = Cooldown(source, policies.min_release_age, exempt)
    if policies.allow or policies.deny:
        allow, deny = NamePatterns(policies.allow), NamePatterns(policies.deny)
        source = ProjectFilter(source, allow, deny, policies.deny_status)
    return Sources(source, stored, cooldown)
