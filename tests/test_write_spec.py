"""Write specs refuse a declaration that would write the wrong columns, when declared."""

import pytest

from platform_assets.core.write_spec import MergeUpsert, OverwritePartition


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"key": "order_id", "ordering": ("updated_at",)}, "sequences of column names"),
        ({"key": (), "ordering": ("updated_at",)}, "the business key must name"),
        ({"key": ("order_id",), "ordering": ()}, "the ordering must name"),
        ({"key": ("order_id",), "ordering": ("order_id",)}, "overlap"),
        (
            {"key": ("order_id",), "ordering": ("seq",), "impact_day_column": ""},
            "the impact day column must name",
        ),
    ],
)
def test_a_merge_spec_without_usable_columns_is_refused(fields, reason):
    with pytest.raises(ValueError, match=reason):
        MergeUpsert("curated.t", **fields)


def test_an_overwrite_needs_its_partition_column_and_specs_keep_lists_as_tuples():
    with pytest.raises(ValueError, match="the partition column must name"):
        OverwritePartition("marts.t", "")
    merge = MergeUpsert("curated.t", key=["order_id"], ordering=["updated_at", "seq"])
    assert merge.key == ("order_id",) and merge.ordering == ("updated_at", "seq")
    assert merge.metadata()["platform/key"] == "order_id"
