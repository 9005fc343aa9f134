"""diskimage-builder's real configs that need the VM's kernel (vfat,
device-mapper), through its main script's exact call sequence (see
support/lifecycle); the others run on the host tier."""
from diskimage_builder.block_device.tests.support.lifecycle import \
    LifecycleCase


class TestCompatLifecycleInVm(LifecycleCase):

    def test_every_config_of_this_tier(self):
        self.run_every_config(in_vm=True)
