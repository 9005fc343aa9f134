"""diskimage-builder's real configs that the host kernel can build,
through its main script's exact call sequence (see support/lifecycle)."""
from diskimage_builder.block_device.tests.support.lifecycle import \
    LifecycleCase


class TestCompatLifecycle(LifecycleCase):

    def test_every_config_of_this_tier(self):
        self.run_every_config(in_vm=False)
