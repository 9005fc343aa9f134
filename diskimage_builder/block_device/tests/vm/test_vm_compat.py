"""The diskimage-builder configs of ../shared/compat that need the VM's
kernel (vfat, device-mapper), through the main script's exact call
sequence; the others run on the host tier."""
import pytest

from diskimage_builder.block_device.tests.functional import \
    test_compat_lifecycle
from diskimage_builder.block_device.tests.vm import runner

pytestmark = pytest.mark.vm

if not runner.in_vm():
    pytest.skip("needs the VM tier (run through tests/vm/runner.py)",
                allow_module_level=True)


class TestCompatLifecycleInVm(test_compat_lifecycle.TestCompatLifecycle):
    """Inside the VM the base test runs the configs the host cannot."""
