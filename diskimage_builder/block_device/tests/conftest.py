"""Shared by every tier: each test is marked with its tier (the folder it
lives in: unit, host, vm), and gets its own host-wide claims folder (see
claims.py), so tests never see or leave claims in the host's /run.

Outside the VM the vm tier's tests are skipped, saying how to run them;
inside it (DIB_VM_TIER=1, set by the VM runner) they run."""
import os

import pytest

from diskimage_builder.block_device.tests.support import vmrunner

TIERS = ('unit', 'host', 'vm')
NOT_IN_VM = ('needs the VM tier: run it with tools/run-tests --tier vm '
             '(or python -m '
             'diskimage_builder.block_device.tests.support.vmrunner '
             '--disk disk1=2G --disk disk2=2G -- TESTS)')


def pytest_collection_modifyitems(items):
    outside_vm = not vmrunner.in_vm()
    for item in items:
        tier = os.path.basename(os.path.dirname(str(item.fspath)))
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if tier == 'vm' and outside_vm:
            item.add_marker(pytest.mark.skip(reason=NOT_IN_VM))


@pytest.fixture(autouse=True)
def private_claims_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv('DIB_BD_CLAIMS_DIR',
                       str(tmp_path_factory.mktemp('claims')))
