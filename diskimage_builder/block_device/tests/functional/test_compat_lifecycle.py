"""diskimage-builder's real configs, driven through the exact call
sequence of its main script (../shared/compat/dib-main-lifecycle.sh).

Every config runs once: on the host when the host kernel can do it, in
the VM tier when it needs vfat or device-mapper (the VM is slow: it does
only what the host cannot).
"""
import glob
import os
import sys

import yaml

from diskimage_builder.block_device import sizes

from diskimage_builder.block_device.tests.functional import base

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


def compat_configs():
    return sorted(glob.glob(os.path.join(base.COMPAT, '*.yaml')))


class TestCompatLifecycle(base.FunctionalTestCase):

    def run_lifecycle(self, config):
        script = os.path.join(base.COMPAT, 'dib-main-lifecycle.sh')
        work = self.useFixture(__import__('fixtures').TempDir(
            rootdir=os.environ.get('DIB_VM_SCRATCH'))).path
        env = dict(os.environ, BD='%s -m diskimage_builder.block_device'
                   % sys.executable, WORK=os.path.join(work, 'w'))
        proc = base.run(['bash', script, config,
                         str(image_size_kib(config))], check=False, env=env,
                        cwd=base.REPO)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('lifecycle: OK %s' % os.path.basename(config),
                      proc.stdout)

    def test_every_config_this_kernel_can_do(self):
        configs = compat_configs()
        if not configs:
            self.skipTest('no ../shared/compat beside the checkout')
        in_vm = os.environ.get('DIB_VM_TIER') == '1'
        mine = [c for c in configs if needs_vm(c) == in_vm]
        if not mine:
            self.skipTest('every compat config runs on the other tier')
        for config in mine:
            self.run_lifecycle(config)
