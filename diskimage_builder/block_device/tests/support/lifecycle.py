"""diskimage-builder's real configs driven through the exact call
sequence of its main script (../shared/compat/dib-main-lifecycle.sh),
shared by the host tier (what the host kernel can do) and the VM tier
(what needs vfat or device-mapper: the VM is slow, it does only what the
host cannot)."""
import os
import sys

import fixtures
import yaml

from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.tests.support import harness
from diskimage_builder.block_device.tests.support.compat import \
    compat_configs
from diskimage_builder.block_device.tests.support.compat import compat_path

NEEDS_VM_PLUGINS = {'lvm', 'crypt', 'mdraid'}


def needs_vm(path):
    """True when a config needs what only the VM kernel has."""
    with open(path) as src:
        text = src.read()
    plugins = {key for entry in yaml.safe_load(text) for key in entry}
    return bool(plugins & NEEDS_VM_PLUGINS) or 'type: vfat' in text


def image_size_kib(path):
    """The script's default 2 GiB, or enough for the fixed-size
    partitions plus 1 GiB (the efi-lvm config has a 40G partition)."""
    with open(path) as src:
        items = yaml.safe_load(src)
    fixed = 0
    for entry in items:
        for part in entry.get('partitioning', {}).get('partitions', []):
            if not sizes.is_percent(part['size']):
                fixed += sizes.parse_size(part['size'])
    return max(2 << 30, fixed + (1 << 30)) // 1024


class LifecycleCase(harness.FunctionalTestCase):
    """Runs compat configs through the main script's call sequence; each
    tier's test module says which configs are its own."""

    def run_lifecycle(self, config):
        script = compat_path('dib-main-lifecycle.sh')
        work = self.useFixture(fixtures.TempDir(
            rootdir=os.environ.get('DIB_VM_SCRATCH'))).path
        env = dict(os.environ, BD='%s -m diskimage_builder.block_device'
                   % sys.executable, WORK=os.path.join(work, 'w'))
        proc = harness.run(['bash', script, config,
                            str(image_size_kib(config))], check=False,
                           env=env, cwd=harness.REPO)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('lifecycle: OK %s' % os.path.basename(config),
                      proc.stdout)

    def run_every_config(self, in_vm):
        """Every compat config that needs the VM (*in_vm*) or not."""
        mine = [c for c in compat_configs() if needs_vm(c) == in_vm]
        self.assertNotEqual([], mine)
        for config in mine:
            self.run_lifecycle(config)
