"""Where Delta tables live and how delta-rs reaches them.

Tables are at ``<root>/<schema>/<table>``; the root is ``s3://<bucket>/<prefix>``
or a local folder. Storage options name the endpoint and the commit protocol
only: credentials come from the AWS chain that delta-rs reads itself
(``AWS_*`` variables, profile, instance metadata) and are never stored here.
"""

import re
from urllib.parse import urlparse

from platform_assets.settings import Settings

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def s3_storage_options(endpoint_url: str | None) -> dict[str, str]:
    """delta-rs options for S3: commits by conditional put (no DynamoDB), and the endpoint.

    ``aws_conditional_put=etag`` makes each commit a put-if-absent of the next
    log entry, so concurrent writers never overwrite each other's commit. An
    ``http://`` endpoint (a local S3 API) also needs ``aws_allow_http``.
    """
    options = {"aws_conditional_put": "etag"}
    if endpoint_url:
        options["aws_endpoint_url"] = endpoint_url
        if urlparse(endpoint_url).scheme == "http":
            options["aws_allow_http"] = "true"
    return options


def s3_root(settings: Settings) -> str:
    """``s3://<bucket>/<prefix>`` of the configured bucket (no trailing slash)."""
    if not settings.s3_bucket:
        raise ValueError("Delta tables on S3 need PLATFORM_S3_BUCKET")
    return "/".join(part for part in (f"s3://{settings.s3_bucket}", settings.s3_prefix) if part)


def split_table(table: str) -> tuple[str, str]:
    """``(schema, name)`` of a ``schema.table`` name whose parts are plain identifiers."""
    schema, _, name = table.partition(".")
    if not (_NAME.fullmatch(schema) and _NAME.fullmatch(name)):
        raise ValueError(f"table name {table!r} must be <schema>.<table> of plain identifiers")
    return schema, name


def table_uri(root: str, table: str) -> str:
    """``<root>/<schema>/<table>`` for a validated table name."""
    return "/".join([root.rstrip("/"), *split_table(table)])
