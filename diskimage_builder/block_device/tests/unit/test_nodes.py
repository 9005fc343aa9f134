"""What each core node runs and records, with a fake runner."""
import os

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import context
from diskimage_builder.block_device import config
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.level2 import mkfs
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import TestCase

CONFIG = """
- local_loop: {name: image0, size: 512MiB}
- mkfs:
    name: fs
    base: image0
    type: xfs
    label: data
    uuid: 0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10
    opts: -s size=4096
    mount:
      mount_point: /srv
      fstab: {options: 'noatime', spec: uuid}
- local_loop: {name: image1, size: 64MiB, block_size: 4096}
- mkfs:
    name: swap
    base: image1
    type: swap
    mount: {mount_point: none, fstab: {}}
"""


class TestMkfsArgv(TestCase):

    def test_table(self):
        uuid = '0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10'
        table = [
            ('ext4', ['mkfs.ext4', '-F', '-q', '-L', 'r', '-U', uuid, '/d']),
            ('ext2', ['mkfs.ext2', '-F', '-q', '-L', 'r', '-U', uuid, '/d']),
            ('xfs', ['mkfs.xfs', '-f', '-q', '-L', 'r', '-m',
                     'uuid=' + uuid, '/d']),
            ('btrfs', ['mkfs.btrfs', '-f', '-q', '-L', 'r', '-U', uuid,
                       '/d']),
            ('swap', ['mkswap', '-f', '-L', 'r', '-U', uuid, '/d']),
        ]
        for fstype, argv in table:
            self.assertEqual(argv, mkfs.mkfs_argv(fstype, '/d', 'r', uuid))
        self.assertEqual(['mkfs.vfat', '-n', 'EFI', '-i', '1234ABCD',
                          '-F', '32', '/d'],
                         mkfs.mkfs_argv('vfat', '/d', 'EFI', '1234-ABCD',
                                        ['-F', '32']))
        self.assertEqual(['mkfs.ext4', '-F', '-q', '/d'],
                         mkfs.mkfs_argv('ext4', '/d'))

    def test_zeroed_devices_skip_discard_and_zeroing(self):
        self.assertEqual(
            ['mkfs.ext4', '-F', '-q', '-E',
             'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '/d'],
            mkfs.mkfs_argv('ext4', '/d', zeroed=True))
        self.assertEqual(['mkfs.xfs', '-f', '-q', '-K', '/d'],
                         mkfs.mkfs_argv('xfs', '/d', zeroed=True))
        self.assertEqual(['mkfs.vfat', '/d'],
                         mkfs.mkfs_argv('vfat', '/d', zeroed=True))

    def test_every_filesystem_has_a_row(self):
        self.assertEqual({'ext2', 'ext3', 'ext4', 'xfs', 'vfat', 'btrfs',
                          'swap'}, set(mkfs.FILESYSTEMS))


class TestCreateCommands(TestCase):
    """The golden command list of a create, and what it records."""

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.params = {'build-dir': self.root + '/build',
                       'image-dir': self.root + '/images',
                       'mount-base': self.root + '/mnt'}
        self.nodes = config.build(yaml.safe_load(CONFIG), self.params)
        self.planned = blockdevice.plan(self.params, self.nodes)
        os.makedirs(self.root + '/build')
        self.state = state_mod.State(self.root + '/build')
        self.host = self.useFixture(FakeHostFixture()).host

    def test_create(self):
        img0 = self.root + '/images/image0.raw'
        img1 = self.root + '/images/image1.raw'
        loop1, loop2 = (os.path.join(self.host.dev_root, name)
                        for name in ('loop1', 'loop2'))
        blkid_xfs = ('DEVNAME=%s\nUUID=0e5d5f5a-2b1c-4c5e-9a57-'
                     '3c2f1f7b6a10\nLABEL=data\nTYPE=xfs\n' % loop1)
        blkid_swap = ('DEVNAME=%s\nUUID=11111111-2222-3333-4444-'
                      '555555555555\nLABEL=swap\nTYPE=swap\n' % loop2)
        runner = FakeRunner([
            (['losetup', '--find', '--show', '--partscan', img0],
             loop1 + '\n'),
            (['mkfs.xfs', '-f', '-q', '-K', '-L', 'data', '-m',
              'uuid=0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10', '-s',
              'size=4096', loop1], ''),
            (['blkid', '-p', '-o', 'export', loop1], blkid_xfs),
            (['mount', '-t', 'xfs', loop1, self.root + '/mnt/srv'], ''),
            (['losetup', '--find', '--show', '--partscan', '--sector-size',
              '4096', img1], loop2 + '\n'),
            (['mkswap', '-f', '-L', 'swap', loop2], ''),
            (['blkid', '-p', '-o', 'export', loop2], blkid_swap),
        ], effects=FakeKernel(self.host).effects())
        ctx = context.RealContext(runner, self.state, self.params,
                                  self.nodes, self.planned)
        for node in self.nodes:
            node.create(ctx)
        runner.assert_done()
        self.assertEqual(512 << 20, os.stat(img0).st_size)
        self.assertEqual(0, os.stat(img0).st_blocks)
        self.assertTrue(os.path.isdir(self.root + '/mnt/srv'))
        self.assertEqual(
            'UUID=0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10 /srv xfs noatime 0 2',
            self.state.results('fstab_mount_fs')['fstab'])
        self.assertEqual('LABEL=swap none swap sw 0 0',
                         self.state.results('fstab_mount_swap')['fstab'])
        self.assertEqual(
            [('claim', img0), ('image-file', img0), ('loop', img0),
             ('mount', self.root + '/mnt/srv'),
             ('claim', img1), ('image-file', img1), ('loop', img1)],
            [(e['kind'], e['args'].get('path') or e['args'].get('file') or
              e['args'].get('name') or e['args']['target'])
             for e in self.state.journal])
        # Each entry carries what identifies its resource.
        image, loop, mount = self.state.journal[1:4]
        self.assertEqual(os.stat(img0).st_ino, image['args']['ino'])
        self.assertEqual((loop1, '7:1', image['args']['ino']),
                         (loop['args']['device'], loop['args']['devnum'],
                          loop['args']['ino']))
        self.assertEqual((loop1, '7:1'), (mount['args']['device'],
                                          mount['args']['devnum']))
        self.assertEqual(self.host.mounts()[0].mount_id,
                         mount['args']['mount_id'])

    def test_mount_points_refuse_symlinks(self):
        os.makedirs(self.root + '/mnt')
        os.symlink('/etc', self.root + '/mnt/srv')
        node = [n for n in self.nodes if n.kind == 'mount'][0]
        self.state.record('fs', device='/dev/loop1', fstype='xfs')
        ctx = context.RealContext(FakeRunner([]), self.state, self.params,
                                  self.nodes, self.planned)
        err = self.assertRaises(Exception, node.create, ctx)
        self.assertIn('a symlink or not a directory', str(err))
        self.assertEqual([], self.state.journal)


class TestRecordedPlugins(TestCase):
    """init records each plugin's class; later phases import it directly
    and scan the entry points only for what is not recorded."""

    def scan(self, wanted):
        self.scanned.append(sorted(wanted))
        return {name: mkfs.Mkfs for name in wanted}

    def setUp(self):
        super().setUp()
        from diskimage_builder.block_device import plugin
        self.plugin = plugin
        self.scanned = []
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.plugin.load_many', self.scan))

    def test_recorded_classes_need_no_scan(self):
        targets = self.plugin.recorded({'mkfs': mkfs.Mkfs})
        self.assertEqual(
            {'mkfs': 'diskimage_builder.block_device.level2.mkfs:Mkfs'},
            targets)
        self.assertEqual({'mkfs': mkfs.Mkfs},
                         self.plugin.load_recorded(['mkfs'], targets))
        self.assertEqual([], self.scanned)

    def test_moved_or_missing_ones_are_scanned(self):
        targets = {'mkfs': 'no.such.module:Mkfs',
                   'mount': 'diskimage_builder.block_device.level2.mkfs:Gone'}
        self.plugin.load_recorded(['mkfs', 'mount', 'fstab'], targets)
        self.assertEqual([['fstab', 'mkfs', 'mount']], self.scanned)
