"""Shared by every tier: each test is marked with its tier (the folder it
lives in: unit, host, vm), and gets its own host-wide claims folder (see
claims.py), so tests never see or leave claims in the host's /run."""
import os

import pytest

TIERS = ('unit', 'host', 'vm')


def pytest_collection_modifyitems(items):
    for item in items:
        tier = os.path.basename(os.path.dirname(str(item.fspath)))
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def private_claims_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv('DIB_BD_CLAIMS_DIR',
                       str(tmp_path_factory.mktemp('claims')))
