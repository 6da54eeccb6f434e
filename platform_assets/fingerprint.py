"""Input fingerprints: a content hash of a partition's files, independent of mtime."""

from __future__ import annotations

from pathlib import Path

import xxhash

from platform_assets.landing import LandingFile

CHUNK_BYTES = 4 * 1024 * 1024
EMPTY_INPUT = "empty"


def fingerprint_files(files: list[LandingFile]) -> str:
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
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
