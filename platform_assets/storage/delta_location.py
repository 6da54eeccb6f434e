"""Where Delta tables live and how delta-rs reaches them.

Tables are at ``<root>/<schema>/<table>``; the root is ``s3://<bucket>/<prefix>``
or a local folder. Storage options name the endpoint, the commit protocol and
the retry budget only: credentials come from the AWS chain that delta-rs reads
itself (``AWS_*`` variables, profile, instance metadata) and are never stored here.
"""

import re
from urllib.parse import urlparse

from platform_assets.settings import Settings

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def s3_storage_options(
    endpoint_url: str | None,
    *,
    max_attempts: int | None = None,
    connect_timeout_s: float | None = None,
    request_timeout_s: float | None = None,
) -> dict[str, str]:
    """delta-rs options for S3: commits by conditional put (no DynamoDB), the endpoint and,
    when given, the retry budget.

    ``aws_conditional_put=etag`` makes each commit a put-if-absent of the next
    log entry, so concurrent writers never overwrite each other's commit. An
    ``http://`` endpoint (a local S3 API) also needs ``aws_allow_http``.

    delta-rs (object_store) retries 5xx answers (``503 SlowDown``), reset connections
    and timeouts with jittered exponential backoff. ``max_attempts`` counts every
    attempt, the first included (object_store's ``max_retries`` is one less; its default
    is 10 retries); ``connect_timeout_s`` bounds opening a connection (default 5 s) and
    ``request_timeout_s`` one whole request, body included (default 30 s). A commit (a
    conditional PUT) is retried after a 5xx answer but not after a reset or a timeout,
    where the server may have applied it: the write then fails and the caller reruns it.
    """
    options = {"aws_conditional_put": "etag"}
    if endpoint_url:
        options["aws_endpoint_url"] = endpoint_url
        if urlparse(endpoint_url).scheme == "http":
            options["aws_allow_http"] = "true"
    if max_attempts is not None:
        options["max_retries"] = str(max_attempts - 1)
    if connect_timeout_s is not None:
        options["connect_timeout"] = _duration(connect_timeout_s)
    if request_timeout_s is not None:
        options["timeout"] = _duration(request_timeout_s)
    return options


def delta_storage_options(settings: Settings) -> dict[str, str]:
    """:func:`s3_storage_options` of the settings: ``AWS_ENDPOINT_URL``,
    ``PLATFORM_S3_MAX_ATTEMPTS``, ``PLATFORM_S3_CONNECT_TIMEOUT_S`` and
    ``PLATFORM_S3_READ_TIMEOUT_S`` (for delta-rs, the limit of one whole request)."""
    return s3_storage_options(
        settings.s3_endpoint_url,
        max_attempts=settings.s3_max_attempts,
        connect_timeout_s=settings.s3_connect_timeout_s,
        request_timeout_s=settings.s3_read_timeout_s,
    )


def _duration(seconds: float) -> str:
    """``seconds`` as an object_store duration (whole milliseconds, e.g. ``"2500ms"``)."""
    return f"{max(1, round(seconds * 1000))}ms"


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
