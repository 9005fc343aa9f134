"""diskimage-builder 3.43.0's own ``disk-image-create``, end to end, with
this package installed over it (the ``dropin`` venv, see venvs.py): the
image it builds is read back with independent tools.

The host kernel has no vfat, so block-device-efi is built in the VM tier
(tests/vm/test_vm_dib_efi.py).
"""
import os

import pytest

from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support.dib import imagecheck
from diskimage_builder.block_device.tests.support.dib import venvs
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import harness

pytestmark = pytest.mark.host

# disk-image-create mounts a tmpfs on its build folder only when the
# machine has twice DIB_MIN_TMPFS (default 2 GiB) of RAM.
TMPFS_RAM_KIB = 4 * 1024 * 1024


def mem_total_kib():
    with open('/proc/meminfo') as src:
        for line in src:
            if line.startswith('MemTotal:'):
                return int(line.split()[1])
    return 0


def claims_left():
    """Claim files in the test's private claims folder (conftest.py)."""
    claims = os.environ['DIB_BD_CLAIMS_DIR']
    return os.listdir(claims) if os.path.isdir(claims) else []


class DropinTestCase(harness.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        imagecheck.require_tools(self, 'sudo', 'fstrim', 'busybox')
        try:
            self.venv = venvs.require('dropin')
        except venvs.VenvError as err:
            self.fail(str(err))

    def build(self, *elements, tmpfs=False):
        run = self.useFixture(dibrun.DiskImageCreate(
            self.venv, ['dib-test-root'] + list(elements), tmpfs=tmpfs))
        return run, run.run()


class TestDiskImageCreate(DropinTestCase):

    def assert_builds(self, element, tmpfs=False):
        run, status = self.build(element, tmpfs=tmpfs)
        self.assertEqual(0, status, run.log())
        imagecheck.check_built_image(self, run, element)
        self.assertEqual([], claims_left())

    def test_mbr(self):
        self.assert_builds('block-device-mbr')

    def test_gpt(self):
        self.assert_builds('block-device-gpt')

    def test_tmpfs_build_dir(self):
        # The builder's default on a machine with RAM: its build folder
        # is a fresh tmpfs, mode 1777 and owned by the builder.
        if mem_total_kib() < TMPFS_RAM_KIB:
            self.skipTest('under 4 GiB of RAM disk-image-create uses no '
                          'tmpfs')
        self.assert_builds('block-device-mbr', tmpfs=True)


class TestFailureAfterCreate(DropinTestCase):
    """cleanup.d fails with the image created and mounted: the builder's
    exit trap calls the layer's ``umount`` (never ``cleanup``) and then
    deletes its build and image folders."""

    def failed_build(self):
        run, status = self.build('block-device-mbr', 'dib-test-fail-late')
        self.assertNotEqual(0, status, run.log())
        self.assertIn('failing on purpose after create', run.log(200))
        self.assertIn('+ mkfs.ext4', run.log(200),
                      'the build failed before create')
        return run

    def test_no_mount_or_loop_left_behind(self):
        run = self.failed_build()
        self.assertEqual([], held.leftovers(run.root))
        self.assertFalse(os.path.exists(run.image))

    def test_claims_left_behind_are_stale_and_swept(self):
        # The exit trap runs umount, never cleanup: the claims (in
        # /run/dib-block-device/claims, here the test's private
        # DIB_BD_CLAIMS_DIR) outlive the build folder the trap deletes.
        # They name a build that is gone, so the next build's create
        # sweeps them (and would have taken them over anyway).
        self.failed_build()
        left = claims_left()
        folder = os.environ['DIB_BD_CLAIMS_DIR']
        for name in left:
            with open(os.path.join(folder, name)) as claim:
                self.assertFalse(os.path.exists(claim.read().strip()), name)
        run, status = self.build('block-device-mbr')
        self.assertEqual(0, status, run.log())
        self.assertEqual([], claims_left())
