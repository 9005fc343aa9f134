"""diskimage-builder 3.43.0's ``disk-image-create`` with this package
installed over it, end to end with block-device-efi: the vfat ESP needs
the VM's kernel.  The host tier builds mbr and gpt the same way
(tests/host/test_dib_dropin.py)."""
import testtools

from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support.dib import imagecheck
from diskimage_builder.block_device.tests.support.dib import venvs
from diskimage_builder.block_device.tests.support import held


class TestEfiImage(testtools.TestCase):

    def test_efi(self):
        imagecheck.require_tools(self, 'sudo', 'fstrim', 'busybox',
                                 'mkfs.vfat')
        try:
            venv = venvs.require('dropin')
        except venvs.VenvError as err:
            self.fail(str(err))
        self.useFixture(venvs.MountedInVm(venv))
        dm_before = held.dm_names()
        run = self.useFixture(dibrun.DiskImageCreate(
            venv, ['dib-test-root', 'block-device-efi']))
        self.assertEqual(0, run.run(), run.log())
        self.assertEqual(dm_before, held.dm_names())
        imagecheck.check_built_image(self, run, 'block-device-efi')
