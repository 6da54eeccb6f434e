"""Input fingerprints: content hashes of delivered files and of combined inputs.

S3 objects are fingerprinted by key, size and ETag in :mod:`platform_assets.storage.landing_s3`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import xxhash

from platform_assets.core.landing import LandingEntry, read_problem

CHUNK_BYTES = 1024 * 1024
EMPTY_INPUT = "empty"


def fingerprint_files(files: Sequence[LandingEntry]) -> str:
    """xxh3-128 over each file's name, size and content, in name order.

    Renaming, adding, removing or editing a file changes the fingerprint;
    touching a file (mtime only) does not. A day without files is ``"empty"``.
    An entry with a problem, or that cannot be opened, counts by name and problem.
    """
    if not files:
        return EMPTY_INPUT
    digest = xxhash.xxh3_128()
    for file in sorted(files, key=lambda f: f.name):
        handle, problem = None, file.problem
        if not problem:
            try:
                handle = open_landing_file(file.path)
            except FileNotFoundError:
                raise
            except OSError as exc:
                problem = read_problem(exc)
        if handle is None:
            digest.update(problem_line(file.name, problem))
            continue
        digest.update(f"{file.name}\0{file.size}\0".encode())
        with handle:
            _update_from_handle(digest, handle)
    return "xxh3:" + digest.hexdigest()


def fingerprint_contents(contents: Sequence[tuple[LandingEntry, bytes]]) -> str:
    """:func:`fingerprint_files` of files already read: (entry, bytes) pairs."""
    if not contents:
        return EMPTY_INPUT
    digest = xxhash.xxh3_128()
    for entry, data in sorted(contents, key=lambda item: item[0].name):
        if entry.problem:
            digest.update(problem_line(entry.name, entry.problem))
            continue
        digest.update(f"{entry.name}\0{len(data)}\0".encode())
        digest.update(data)
    return "xxh3:" + digest.hexdigest()


def stat_signature(files: Sequence[LandingEntry]) -> str:
    """A hash of local files' names, sizes and mtimes, or names and problems (nothing read,
    no link followed)."""
    digest = xxhash.xxh3_64()
    for file in sorted(files, key=lambda f: f.name):
        if file.problem:
            digest.update(problem_line(file.name, file.problem))
            continue
        mtime = os.lstat(file.path).st_mtime_ns
        digest.update(f"{file.name}\0{file.size}\0{mtime}\n".encode())
    return digest.hexdigest()


def open_landing_file(path: Path) -> BinaryIO:
    """Open a local file for reading, refusing a symbolic link (``ELOOP``) and never
    waiting on a FIFO."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb", 0)


def problem_line(name: str, problem: str) -> bytes:
    """What a refused entry adds to a fingerprint: its name and problem."""
    return f"{name}\0problem\0{problem}\n".encode()


def combine_fingerprints(parts: dict[str, str]) -> str:
    """One fingerprint from named upstream fingerprints, independent of dict order."""
    digest = xxhash.xxh3_128()
    for name in sorted(parts):
        digest.update(f"{name}={parts[name]}\n".encode())
    return "xxh3:" + digest.hexdigest()


def file_checksum(path: Path) -> str:
    """xxh3-128 of one file's bytes."""
    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as handle:
        _update_from_handle(digest, handle)
    return "xxh3:" + digest.hexdigest()


def _update_from_handle(digest: xxhash.xxh3_128, handle: BinaryIO) -> None:
    # Read into one reused buffer: a fresh 4 MiB bytes object per chunk (new pages to
    # fault in and copy into) hashed at ~0.6x the speed of `cat`; this keeps up with it.
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    while count := handle.readinto(buffer):
        digest.update(view[:count])
