"""A landing file that cannot be read, for real: mode 000, and when the tests run as root,
the capabilities that let root read any file dropped from this thread meanwhile."""

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CAPABILITY_VERSION_3 = 0x20080522
_DAC_OVERRIDE, _DAC_READ_SEARCH = 1, 2


@contextmanager
def unreadable(path: Path) -> Iterator[None]:
    """``path`` cannot be opened inside the block (its mode is restored after)."""
    mode = path.stat().st_mode
    path.chmod(0)
    try:
        with _permissions_enforced():
            assert _refused(path), f"{path} can still be read"
            yield
    finally:
        path.chmod(mode)


def _refused(path: Path) -> bool:
    try:
        path.open("rb").close()
    except PermissionError:
        return True
    return False


@contextmanager
def _permissions_enforced() -> Iterator[None]:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread's effective set."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; twice (64 bits)
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    saved = list(data)
    data[0] &= ~((1 << _DAC_OVERRIDE) | (1 << _DAC_READ_SEARCH))
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    try:
        yield
    finally:
        data[:] = saved
        libc.capset(header, data)
