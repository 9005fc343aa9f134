"""Upstream diskimage-builder 3.43.0's own block-device layer against
this package, on every config of ../shared/compat, each driven through
disk-image-create's sequence of phases (tests/support/dib/compare.py).

A table per config says what matched (run pytest with -s or -rP to see
it); a difference fails the test unless it is a named deviation.
"""
import glob
import os
import tempfile

import pytest

from diskimage_builder.block_device.tests.support.dib import compare
from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support.dib import venvs
from diskimage_builder.block_device.tests.support import compat
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import harness

MISSING = 'no compat configs'
# Of the guest's 2 GiB; one image at a time is kept (see observed).
TMPFS_SIZE = '1200m'


def compat_configs():
    """The configs, or one placeholder that makes the test fail: a
    missing input is a failure, not an empty (silently passing) run."""
    return sorted(glob.glob(os.path.join(compat.COMPAT, '*.yaml'))) or \
        [MISSING]


@pytest.fixture
def scratch():
    """A tmpfs of its own.  Not the runner's 9p scratch folder: a loop
    device over a 9p file cannot discard, and upstream's umount fails on
    its fstrim there ("the discard operation is not supported").  The
    builder's own image folder is usually a tmpfs too.  Sparse images
    take only what is written (upstream's mkfs discards what it does
    not)."""
    root = tempfile.mkdtemp(prefix='dib-compare-')
    harness.run(['mount', '-t', 'tmpfs', '-o',
                 'size=%s,mode=0700' % TMPFS_SIZE, 'tmpfs', root])
    yield root
    dibrun.release_everything_below(root)
    harness.run(['umount', root], check=False)
    os.rmdir(root)


def required(name):
    try:
        return venvs.require(name)
    except venvs.VenvError as err:
        pytest.fail(str(err))


def observed(name, config, root):
    """The layer of venv *name* through the builder's phases, as
    disk-image-create calls it: ${DIB_PYTHON_EXEC}
    ${_LIB}/dib-block-device.py PHASE."""
    venv = required(name)
    with venvs.MountedInVm(venv):
        dm_before = held.dm_names()
        lifecycle = compare.Lifecycle(
            name, [venv.python, venv.block_device_script], config, root,
            dm_before)
        answers = lifecycle.run()
        facts = compare.observe(lifecycle, answers, dm_before)
    os.unlink(answers['image-path'])  # RAM, once its facts are taken
    return facts, lifecycle.seconds


@pytest.mark.parametrize('config', compat_configs(),
                         ids=lambda path: os.path.basename(path))
def test_same_as_upstream(config, scratch):
    if config == MISSING:
        pytest.fail('no *.yaml in %s (the compat configs live beside the '
                    'checkout, in ../shared/compat)' % compat.COMPAT)
    upstream, upstream_seconds = observed('upstream', config, scratch)
    ours, our_seconds = observed('dropin', config, scratch)
    rows = compare.compare(upstream, ours)
    summary = compare.table(config, rows, (upstream_seconds, our_seconds))
    print(summary)
    assert [row for row in rows if row[1] == 'DIFFERENT'] == [], summary
