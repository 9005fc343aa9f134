"""diskimage-builder's real configs that need the VM's kernel (vfat,
device-mapper), through its main script's exact call sequence (see
support/lifecycle); the others run on the host tier."""
import pytest

from diskimage_builder.block_device.tests.support import vmrunner
from diskimage_builder.block_device.tests.support.lifecycle import \
    LifecycleCase

if not vmrunner.in_vm():
    pytest.skip("needs the VM tier (run through tests/support/vmrunner.py)",
                allow_module_level=True)


class TestCompatLifecycleInVm(LifecycleCase):
    IN_VM = True
