"""The history test's fault seams exist in the code under test, for every store, and a
pause never lands while a lock is held (fast: no run)."""

import io
import os
import sys

import pytest

from tests.history.child import BOTH, KILL_KINDS, S3, SEAMS, Faults, _resolve


@pytest.mark.parametrize("seam", SEAMS, ids=lambda seam: f"{seam.module}.{seam.attr}")
def test_every_seam_resolves(seam):
    """A platform refactoring that moves a seam fails here first, naming it."""
    assert set(seam.stores) <= set(BOTH)
    _resolve(seam)


@pytest.mark.parametrize("store", BOTH)
def test_kill_kinds_name_seams_of_their_store(store):
    kinds = {seam.name for seam in SEAMS if seam.role == "boundary" and store in seam.stores}
    assert set(KILL_KINDS[store]) - {None} <= kinds


def test_a_pause_waits_until_no_lock_is_held(monkeypatch):
    """Armed inside a lock-holding seam (a warehouse connection, a ledger transaction),
    the pause happens at the first later event with nothing held."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("go\n"))
    read, write = os.pipe()
    faults = Faults(store=S3, pause_on="transaction", pause_at=1, status_fd=write)
    try:
        faults.held = 1
        faults.boundary("transaction", "enter")
        assert faults.pause_armed and not faults.paused
        faults.boundary("write_deltalake", "call")
        assert not faults.paused
        faults.held = 0
        faults.boundary("write_deltalake", "return")
        assert faults.paused
        assert os.read(read, 1) == b"P"
    finally:
        os.close(read)
        os.close(write)
