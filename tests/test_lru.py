from groxpi.lru import LRUSizes


def test_evicts_least_recently_used_first() -> None:
    lru = LRUSizes(limit=100)
    assert lru.add("a", 40) == []
    assert lru.add("b", 40) == []
    assert lru.touch("a")
    assert lru.add("c", 40) == ["b"]  # a was used more recently than b
    assert "b" not in lru and "a" in lru and "c" in lru
    assert lru.total == 80


def test_newest_is_kept_even_if_larger_than_limit() -> None:
    lru = LRUSizes(limit=10)
    lru.add("small", 5)
    assert lru.add("huge", 50) == ["small"]
    assert len(lru) == 1 and lru.total == 50


def test_readding_replaces_size_and_remove_is_idempotent() -> None:
    lru = LRUSizes(limit=100)
    lru.add("a", 10)
    lru.add("a", 30)
    assert lru.total == 30
    lru.remove("a")
    lru.remove("a")
    assert lru.total == 0 and not lru.touch("a")


def test_resync_adopts_other_processes_files_as_older_and_drops_gone_keys() -> None:
    lru = LRUSizes(limit=100)
    lru.add("mine-old", 30)
    lru.add("mine-new", 30)
    lru.add("gone", 10)
    stored = [
        ("mine-old", 30, 5.0),
        ("mine-new", 30, 1.0),
        ("theirs", 30, 9.0),
        ("theirs-older", 30, 2.0),
    ]
    assert lru.resync(stored) == ["theirs-older"]
    assert "gone" not in lru and lru.total == 90
    assert lru.add("next", 20) == ["theirs"]  # other processes' files go before ours
