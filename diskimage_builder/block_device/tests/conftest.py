"""Every test gets its own host-wide claims folder (see resources.claim),
so tests never see or leave claims in the host's /run."""
import pytest


@pytest.fixture(autouse=True)
def private_claims_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv('DIB_BD_CLAIMS_DIR',
                       str(tmp_path_factory.mktemp('claims')))
