"""Resetting what mounting an ext filesystem changed (SOURCE_DATE_EPOCH)."""
import os

import fixtures

from diskimage_builder.block_device.level3 import exttimes
from diskimage_builder.block_device.level3 import mount
from diskimage_builder.block_device.tests.fakes import TestCase

EPOCH = 1700000000


class TestExtTimes(TestCase):

    def test_debugfs_script(self):
        self.assertEqual(
            'sif <2> ctime @1700000000\n'
            'sif <2> generation 0\n'
            'sif <2> ctime_extra 0\n'
            'sif <2> crtime @1700000000\n'
            'sif <2> crtime_extra 0\n'
            'sif <12> ctime @1700000000\n'
            'sif <12> generation 0\n'
            'sif <12> ctime_extra 0\n'
            'sif <12> crtime @1700000000\n'
            'sif <12> crtime_extra 0\n'
            'ssv mtime @1700000000\n'
            'ssv mnt_count 0\n'
            'ssv kbytes_written 0\n',
            exttimes.debugfs_script([2, 12], EPOCH, 256))

    def test_small_inodes_have_no_creation_time(self):
        script = exttimes.debugfs_script([2], EPOCH, 128)
        self.assertNotIn('crtime', script)
        self.assertNotIn('ctime_extra', script)

    def test_clamp_tree(self):
        top = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(top, 'etc'))
        new = os.path.join(top, 'etc', 'fstab')
        old = os.path.join(top, 'old')
        for path in (new, old):
            with open(path, 'w') as out:
                out.write('x')
        os.utime(old, (1000, 2000))
        os.symlink('old', os.path.join(top, 'link'))
        inodes = exttimes.clamp_tree(top, EPOCH)
        self.assertEqual((1000, 2000), (os.stat(old).st_atime,
                                        os.stat(old).st_mtime))
        for path in (new, os.path.join(top, 'etc'), top):
            self.assertEqual(EPOCH, os.lstat(path).st_mtime, path)
        self.assertEqual(EPOCH, os.lstat(os.path.join(top, 'link')).st_mtime)
        self.assertEqual(sorted(os.lstat(os.path.join(top, p)).st_ino for p in
                                ('', 'etc', 'etc/fstab', 'old', 'link')),
                         inodes)

    def test_mount_option_only_with_the_epoch(self):
        node = mount.MountNode('mount', 'm', '[0]', ['fs'], {},
                               {'mount_point': '/'})

        class Mkfs:
            facts = {'fstype': 'ext4'}
        self.useFixture(fixtures.EnvironmentVariable('SOURCE_DATE_EPOCH'))
        self.assertEqual(['mount', '-t', 'ext4', '/dev/x', '/mnt'],
                         node.argv(Mkfs, '/dev/x', '/mnt'))
        self.useFixture(fixtures.EnvironmentVariable('SOURCE_DATE_EPOCH',
                                                     str(EPOCH)))
        self.assertEqual(['mount', '-t', 'ext4', '-o', 'noinit_itable',
                          '/dev/x', '/mnt'], node.argv(Mkfs, '/dev/x',
                                                       '/mnt'))
        Mkfs.facts = {'fstype': 'vfat'}
        self.assertEqual(['mount', '-t', 'vfat', '/dev/x', '/mnt'],
                         node.argv(Mkfs, '/dev/x', '/mnt'))

    def test_reset_commands(self):
        from diskimage_builder.block_device.tests.fakes import FakeRunner
        mounted = {'/mnt'}
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.sysfs.is_mount_point',
            lambda path: path in mounted))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.level3.exttimes.clamp_tree',
            lambda top, epoch: [2, 11]))
        runner = FakeRunner([
            ['umount', '/mnt'],
            (['dumpe2fs', '-h', '/dev/p1'],
             'Filesystem features:      has_journal ext_attr metadata_csum\n'
             'Inode size:\t          256\n'),
            ['tune2fs', '-O', '^has_journal', '/dev/p1'],
            ['tune2fs', '-O', 'has_journal', '/dev/p1'],
            ['tune2fs', '-M', '/', '/dev/p1'],
            ['debugfs', '-w', '-f', '-', '/dev/p1'],
            ['tune2fs', '-O', '^metadata_csum', '/dev/p1'],
            ['tune2fs', '-O', 'metadata_csum', '/dev/p1'],
            ['e2fsck', '-f', '-n', '/dev/p1'],
        ])
        args = {'target': '/mnt', 'device': '/dev/p1', 'epoch': EPOCH,
                'mount_point': '/'}
        exttimes.reset_times(runner, args)
        runner.assert_done()
        # Not mounted any more (a second teardown): nothing to do.
        mounted.clear()
        exttimes.reset_times(FakeRunner(), args)
