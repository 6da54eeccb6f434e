"""The cheap one-row-per-key proof agrees with hashing and sorting on any frame."""

import itertools

import polars as pl

from platform_assets.core import cdc
from platform_assets.core.frame_keys import ascending_unique, has_duplicate_keys


def frame_of(keys: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"k": keys, "v": list(range(len(keys)))}, schema={"k": pl.Int64, "v": pl.Int64}
    )


EVERY_SHORT_KEY_LIST = [
    list(keys) for n in range(5) for keys in itertools.product([None, -1, 0, 1], repeat=n)
]


def test_the_proof_holds_exactly_for_unique_non_null_ascending_keys():
    for keys in EVERY_SHORT_KEY_LIST:  # all 341 lists of up to 4 keys from {NULL, -1, 0, 1}
        frame = frame_of(keys)
        truth = None not in keys and keys == sorted(set(keys))
        assert ascending_unique(frame, ["k"]) == truth, keys
        hashed = bool(frame.select("k").is_duplicated().any())
        assert has_duplicate_keys(frame, ["k"]) == hashed, keys
        slow = frame.sort(["k", "v"]).unique(subset=["k"], keep="last", maintain_order=True)
        assert cdc.keep_latest(frame, ["k"], ["v"]).equals(slow), keys


def test_text_keys_and_composite_keys():
    assert ascending_unique(pl.DataFrame({"k": ["a", "b", "c"]}), ["k"])
    assert not ascending_unique(pl.DataFrame({"k": ["b", "a"]}), ["k"])
    pairs = pl.DataFrame({"a": [1, 2], "b": [1, 1]})
    assert not ascending_unique(pairs, ["a", "b"])  # not proved cheaply: the slow path decides


def test_a_nested_key_is_not_proved_and_does_not_raise():
    lists = pl.DataFrame({"k": [[1], [2]], "v": [1, 2]})
    assert not ascending_unique(lists, ["k"])
