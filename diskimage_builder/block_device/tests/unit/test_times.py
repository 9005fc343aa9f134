"""Resetting what mounting an ext filesystem changed (SOURCE_DATE_EPOCH)."""
import os
import struct
import subprocess

import fixtures

from diskimage_builder.block_device import resources
from diskimage_builder.block_device import tools
from diskimage_builder.block_device.repro import times
from diskimage_builder.block_device.tests.support import hosttools
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import unmount_commands
from diskimage_builder.block_device.tests.support.hosttools import find_tool

EPOCH = 1700000000


class TestExtTimes(TestCase):

    def test_debugfs_script(self):
        self.assertEqual(
            'sif <2> ctime @1700000000\n'
            'sif <2> generation 0\n'
            'sif <2> version 0\n'
            'sif <2> ctime_extra 0\n'
            'sif <2> crtime @1700000000\n'
            'sif <2> crtime_extra 0\n'
            'sif <12> ctime @1700000000\n'
            'sif <12> generation 0\n'
            'sif <12> version 0\n'
            'sif <12> ctime_extra 0\n'
            'sif <12> crtime @1700000000\n'
            'sif <12> crtime_extra 0\n'
            'ssv mtime @1700000000\n'
            'ssv mnt_count 0\n'
            'ssv kbytes_written 0\n',
            times.debugfs_script([2, 12], EPOCH, 256))

    def test_small_inodes_have_no_creation_time(self):
        script = times.debugfs_script([2], EPOCH, 128)
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
        inodes = times.clamp_tree(top, EPOCH)
        self.assertEqual((1000, 2000), (os.stat(old).st_atime,
                                        os.stat(old).st_mtime))
        for path in (new, os.path.join(top, 'etc'), top):
            self.assertEqual(EPOCH, os.lstat(path).st_mtime, path)
        self.assertEqual(EPOCH, os.lstat(os.path.join(top, 'link')).st_mtime)
        self.assertEqual(sorted(os.lstat(os.path.join(top, p)).st_ino for p in
                                ('', 'etc', 'etc/fstab', 'old', 'link')),
                         inodes)

    def test_mount_options_only_with_the_epoch(self):
        self.assertEqual([], times.mount_options('ext4', None))
        self.assertEqual(['noinit_itable', 'nodelalloc'],
                         times.mount_options('ext4', EPOCH))
        self.assertEqual([], times.mount_options('vfat', EPOCH))

    def test_reset_only_for_ext_and_vfat_with_the_epoch(self):
        self.assertIsNone(times.reset_kind('ext4', None))
        self.assertEqual('ext-times', times.reset_kind('ext2', EPOCH))
        self.assertEqual('fat-times', times.reset_kind('vfat', EPOCH))
        self.assertIsNone(times.reset_kind('xfs', EPOCH))

    def test_tools_of_the_resets(self):
        held = [{'kind': 'ext-times', 'args': {}}]
        self.assertEqual({'umount', 'fuser', 'sync', 'fstrim', 'debugfs',
                          'tune2fs', 'dumpe2fs', 'e2fsck'},
                         tools.needed([], held))
        self.assertEqual({'umount', 'fuser', 'sync', 'fstrim'}, tools.needed(
            [], [{'kind': 'fat-times', 'args': {}}]))


class TestExtReset(TestCase):
    """The ext-times release: only on this build's mount of this build's
    filesystem."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.host.add_disk('vdb', '252:16')
        self.host.add_partition('vdb', 1, '252:17')
        self.mnt = os.path.join(self.host.root, 'mnt')
        os.makedirs(self.mnt)
        self.device = os.path.join(self.host.dev_root, 'vdb1')
        self.mount = self.host.add_mount(self.mnt, '252:17', self.device)
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.repro.times.clamp_tree',
            lambda top, epoch: [2, 11]))
        self.args = {'target': self.mnt, 'device': self.device,
                     'devnum': '252:17', 'mount_id': self.mount.mount_id,
                     'epoch': EPOCH, 'mount_point': '/',
                     'uuid': '70C0013B-e3ea-48eb-823b-25e540855c0e'}
        self.scope = resources.Scope(None, mount_base=self.mnt)

    def superblock(self, uuid='70c0013b-e3ea-48eb-823b-25e540855c0e'):
        return (['dumpe2fs', '-h', self.device],
                'Filesystem UUID:          %s\n'
                'Filesystem features:      has_journal ext_attr '
                'metadata_csum\nInode size:\t          256\n' % uuid)

    def test_reset_commands(self):
        dev = self.device
        self.scope.runner = FakeRunner([self.superblock()] + unmount_commands(
            self.mnt) + [
            ['tune2fs', '-O', '^has_journal', dev],
            ['tune2fs', '-O', 'has_journal', dev],
            ['debugfs', '-w', '-f', '-', dev],
            ['tune2fs', '-M', '/', dev],
            ['tune2fs', '-O', '^metadata_csum', dev],
            ['tune2fs', '-O', 'metadata_csum', dev],
            ['e2fsck', '-f', '-n', dev],
        ], effects=FakeKernel(self.host).effects())
        times.reset_times(self.scope, self.args)
        self.scope.runner.assert_done()
        # Not mounted any more (a second teardown): nothing to do.
        self.scope.runner = FakeRunner()
        times.reset_times(self.scope, self.args)

    def test_another_filesystem_is_left_as_it_is(self):
        self.scope.runner = FakeRunner([self.superblock(
            '11111111-2222-4333-8444-555555555555')])
        err = self.assertRaises(resources.NotOurs, times.reset_times,
                                self.scope, self.args)
        self.assertIn('its times are left as they are', str(err))
        self.scope.runner.assert_done()
        self.assertTrue(self.host.is_mount_point(self.mnt))

    def test_another_mount_is_left_alone(self):
        self.host.add_mount(self.mnt, '0:50', 'tmpfs', 'tmpfs')
        self.scope.runner = FakeRunner([])
        self.assertRaises(resources.NotOurs, times.reset_times,
                          self.scope, self.args)


def entry(name, attr, ctime=(0x1234, 0x5678), mtime=(0x0842, 0x5771),
          cluster=0):
    data = bytearray(32)
    data[:11] = name.ljust(11).encode()
    data[11] = attr
    data[13] = 77
    struct.pack_into('<HHH', data, 14, ctime[0], ctime[1], 0x4321)
    struct.pack_into('<H', data, 20, cluster >> 16)
    struct.pack_into('<HH', data, 22, *mtime)
    struct.pack_into('<H', data, 26, cluster & 0xFFFF)
    return bytes(data)


class TestFatTimes(TestCase):

    def test_fat_stamp(self):
        # 2023-11-14 22:13:20 UTC
        self.assertEqual((22 << 11 | 13 << 5 | 10, 43 << 9 | 11 << 5 | 14),
                         times.fat_stamp(EPOCH))

    def test_a_file_gets_its_modification_time_as_creation_time(self):
        new = times.reset_entry(entry('HELLO   TXT', 0x20), EPOCH)
        self.assertEqual(0, new[13])
        self.assertEqual(new[22:26], new[14:18])
        self.assertEqual(b'\x21\x43', new[18:20])      # access date kept
        self.assertEqual(entry('HELLO   TXT', 0x20)[18:], new[18:])

    def test_dot_entries_get_the_epoch_and_keep_their_cluster(self):
        stamp, day = times.fat_stamp(EPOCH)
        new = times.reset_entry(entry('..', 0x10, cluster=0x12345), EPOCH)
        self.assertEqual((0, stamp, day, day, 0x1, stamp, day, 0x2345),
                         struct.unpack_from('<BHHHHHHH', new, 13))

    def test_other_entries_are_left_alone(self):
        for name, attr in (('\0', 0x20), ('\xe5BC     TXT', 0x20),
                           ('LONGNAME   ', 0x0F), ('EFI        ', 0x08)):
            raw = bytearray(entry(name.replace('\xe5', 'A'), attr))
            if name.startswith('\xe5'):
                raw[0] = 0xE5
            self.assertIsNone(times.reset_entry(bytes(raw), EPOCH), name)


class TestFatVolumes(TestCase):
    """Real FAT12, FAT16 and FAT32 volumes made in files, filled by
    mtools (no kernel driver needed)."""

    TOOLS = {'mkfs.vfat': 'dosfstools', 'fsck.vfat': 'dosfstools',
             'mcopy': 'mtools', 'mtype': 'mtools'}

    def setUp(self):
        super().setUp()
        missing = hosttools.missing(self.TOOLS)
        if missing:
            self.fail(missing)
        self.tool = {name: find_tool(name) for name in self.TOOLS}

    def volume(self, bits, size):
        root = self.useFixture(fixtures.TempDir()).path
        tree = os.path.join(root, 'tree')
        os.makedirs(os.path.join(tree, 'EFI', 'BOOT'))
        for path in ('EFI/BOOT/BOOTX64.EFI', 'EFI/a-long-file-name.txt',
                     'top.cfg'):
            with open(os.path.join(tree, path), 'w') as out:
                out.write(path * 50)
        image = os.path.join(root, 'fat.img')
        with open(image, 'wb') as out:
            out.truncate(size)
        env = dict(os.environ, MTOOLS_SKIP_CHECK='1')
        for argv in ([self.tool['mkfs.vfat'], '-F', str(bits), image],
                     [self.tool['mcopy'], '-s', '-i', image] + [
                         os.path.join(tree, name) for name in
                         ('EFI', 'top.cfg')] + ['::']):
            subprocess.run(argv, check=True, capture_output=True, env=env)
        return image, env

    def check(self, bits, size):
        image, env = self.volume(bits, size)
        fd = os.open(image, os.O_RDWR)
        try:
            self.assertEqual(bits, times.Fat(fd).bits)
            # EFI, BOOT, BOOTX64.EFI, the long name, top.cfg, and the
            # dot entries of EFI and BOOT.
            self.assertEqual(9, times.reset_fat_times(fd, EPOCH))
        finally:
            os.close(fd)
        fsck = subprocess.run([self.tool['fsck.vfat'], '-n', image],
                              capture_output=True, text=True)
        self.assertEqual(0, fsck.returncode, fsck.stdout + fsck.stderr)
        out = subprocess.run([self.tool['mtype'], '-i', image,
                              '::EFI/BOOT/BOOTX64.EFI'], check=True,
                             capture_output=True, text=True, env=env).stdout
        self.assertEqual('EFI/BOOT/BOOTX64.EFI' * 50, out)

    def test_fat12(self):
        self.check(12, 4 << 20)

    def test_fat16(self):
        self.check(16, 64 << 20)

    def test_fat32(self):
        self.check(32, 300 << 20)
