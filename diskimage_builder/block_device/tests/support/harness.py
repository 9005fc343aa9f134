"""Shared by the host and VM functional tests: run the real command line
on real image files, and look at the result with independent tools."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import fixtures
import testtools

from diskimage_builder.block_device.tests.support.compat import COMPAT  # noqa
from diskimage_builder.block_device.tests.support.compat import REPO
from diskimage_builder.block_device.tests.support import commands


def why_no_loop_devices():
    """None when this process can build images, else the reason."""
    if os.geteuid() != 0:
        return 'needs root (loop devices, mount)'
    if not os.path.exists('/dev/loop-control'):
        return 'no /dev/loop-control: this kernel or container has no loop'
    for tool in ('losetup', 'sfdisk', 'blkid', 'partx', 'mkfs.ext4'):
        if shutil.which(tool) is None:
            return 'host tool %s is missing' % tool
    return None


def run(argv, check=True, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if check and proc.returncode:
        raise AssertionError('%s failed (%d):\n%s%s' % (
            ' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


class Build(fixtures.Fixture):
    """One build folder with params; runs the phases as the builder does
    and guarantees teardown even when the test fails."""

    def __init__(self, config, image_size='1GiB', **params):
        self.config = textwrap.dedent(config)
        self.image_size = image_size
        self.extra = params

    def _setUp(self):
        scratch = os.environ.get('DIB_VM_SCRATCH') or None
        self.root = self.useFixture(fixtures.TempDir(rootdir=scratch)).path
        self.build_dir = os.path.join(self.root, 'build')
        self.image_dir = os.path.join(self.root, 'images')
        self.mount_base = os.path.join(self.build_dir, 'mnt')
        os.makedirs(os.path.join(self.build_dir, 'built', 'etc'))
        self.config_path = os.path.join(self.root, 'config.yaml')
        with open(self.config_path, 'w') as out:
            out.write(self.config)
        params = {'config': self.config_path, 'build-dir': self.build_dir,
                  'image-dir': self.image_dir, 'mount-base': self.mount_base,
                  'root-fs-type': 'ext4', 'root-label': 'cloudimg-rootfs',
                  'image-size': self.image_size}
        params.update(self.extra)
        self.build_dir = params['build-dir']
        self.image_dir = params['image-dir']
        self.mount_base = params['mount-base']
        self.params_path = os.path.join(self.root, 'params.yaml')
        with open(self.params_path, 'w') as out:
            for key, value in params.items():
                if value is not None:
                    out.write('%s: %s\n' % (key, value))
        self.command_log = os.path.join(self.root, 'commands.jsonl')
        self.addCleanup(self._last_resort)

    def phase(self, *args, check=True, env=None):
        full_env = dict(os.environ, DIB_BD_COMMAND_LOG=self.command_log,
                        **(env or {}))
        return run([sys.executable, '-m', 'diskimage_builder.block_device',
                    '--params', self.params_path] + list(args), check=check,
                   env=full_env, cwd=REPO)

    def getval(self, key):
        return self.phase('getval', key).stdout.rstrip('\n')

    def commands(self):
        try:
            with open(self.command_log) as src:
                return [json.loads(line)['argv'] for line in src]
        except FileNotFoundError:
            return []

    def create_as_planned(self, test):
        """plan, init and create; assert create ran exactly the commands
        plan listed.  Returns the plan."""
        plan = json.loads(self.phase('plan', '--format', 'json').stdout)
        self.phase('init')
        if os.path.exists(self.command_log):
            os.unlink(self.command_log)
        self.phase('create')
        ran = self.commands()
        test.assertNotEqual([], ran)
        test.assertEqual([], commands.compare_commands(plan['commands'],
                                                       ran))
        return plan

    def image(self, name='image0'):
        return os.path.join(self.image_dir, name + '.raw')

    def _last_resort(self):
        # A failing test must not leak devices into the next one.
        self.phase('delete', check=False)
        for line in run(['losetup', '-ln', '-O', 'NAME,BACK-FILE'],
                        check=False).stdout.splitlines():
            name, _, backing = line.partition(' ')
            if backing.strip().startswith(self.root):
                run(['losetup', '-d', name], check=False)


def sfdisk_json(image):
    out = run(['sfdisk', '--json', image]).stdout
    return json.loads(out)['partitiontable']


class ReadBack(fixtures.Fixture):
    """Attach an image afresh, read-only, as another machine would."""

    def __init__(self, image, sector_size=512):
        self.image = image
        self.sector_size = sector_size

    def _setUp(self):
        argv = ['losetup', '--find', '--show', '--partscan', '--read-only']
        if self.sector_size != 512:
            argv += ['--sector-size', str(self.sector_size)]
        self.device = run(argv + [self.image]).stdout.strip()
        self.addCleanup(run, ['losetup', '-d', self.device], check=False)
        # Kernels without a partition parser (this CI host) register
        # nothing by themselves: partx tells them, as it would in a
        # container.
        run(['partx', '--add', self.device], check=False)
        self.mounts = []

    def partition(self, number):
        name = os.path.basename(self.device)
        return '/dev/%sp%d' % (name, number)

    def blkid(self, device):
        out = run(['blkid', '-p', '-o', 'export', device]).stdout
        return dict(line.split('=', 1) for line in out.splitlines())

    def mount(self, device, fstype):
        target = self.useFixture(fixtures.TempDir()).path
        run(['mount', '-o', 'ro', '-t', fstype, device, target])
        self.addCleanup(run, ['umount', target], check=False)
        return target


def leftovers(root):
    """Loop devices and mounts that belong to *root*."""
    loops = [line for line in run(['losetup', '-ln', '-O',
                                   'NAME,BACK-FILE']).stdout.splitlines()
             if root in line]
    mounts = [line for line in run(['findmnt', '-rn', '-o',
                                    'TARGET']).stdout.splitlines()
              if line.startswith(root)]
    return loops + mounts


class FunctionalTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        reason = why_no_loop_devices()
        if reason:
            self.skipTest(reason)
