"""Input fingerprints: content hashes of delivered files and of combined inputs.

S3 objects are fingerprinted by key, size and ETag in :mod:`platform_assets.storage.landing_s3`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xxhash

from platform_assets.core.landing import LandingEntry

CHUNK_BYTES = 1024 * 1024
EMPTY_INPUT = "empty"


def fingerprint_files(files: Sequence[LandingEntry]) -> str:
    """xxh3-128 over each file's name, size and content, in name order.

    Renaming, adding, removing or editing a file changes the fingerprint;
    touching a file (mtime only) does not. A day without files is ``"empty"``.
    """
    if not files:
        return EMPTY_INPUT
    digest = xxhash.xxh3_128()
    for file in sorted(files, key=lambda f: f.name):
        digest.update(f"{file.name}\0{file.size}\0".encode())
        _update_from_file(digest, file.path)
    return "xxh3:" + digest.hexdigest()


def fingerprint_contents(contents: list[tuple[str, bytes]]) -> str:
    """:func:`fingerprint_files` of files already read: (name, bytes) pairs."""
    if not contents:
        return EMPTY_INPUT
    digest = xxhash.xxh3_128()
    for name, data in sorted(contents, key=lambda item: item[0]):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return "xxh3:" + digest.hexdigest()


def stat_signature(files: Sequence[LandingEntry]) -> str:
    """A hash of local files' names, sizes and mtimes (no content read)."""
    digest = xxhash.xxh3_64()
    for file in sorted(files, key=lambda f: f.name):
        digest.update(f"{file.name}\0{file.size}\0{file.path.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()


def combine_fingerprints(parts: dict[str, str]) -> str:
    """One fingerprint from named upstream fingerprints, independent of dict order."""
    digest = xxhash.xxh3_128()
    for name in sorted(parts):
        digest.update(f"{name}={parts[name]}\n".encode())
    return "xxh3:" + digest.hexdigest()


def file_checksum(path: Path) -> str:
    """xxh3-128 of one file's bytes."""
    digest = xxhash.xxh3_128()
    _update_from_file(digest, path)
    return "xxh3:" + digest.hexdigest()


def _update_from_file(digest: xxhash.xxh3_128, path: Path) -> None:
    # Read into one reused buffer: a fresh 4 MiB bytes object per chunk (new pages to
    # fault in and copy into) hashed at ~0.6x the speed of `cat`; this keeps up with it.
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
