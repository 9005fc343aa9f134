"""The offline build's pure parts: the tree split at mount points and
counted, the fit's search against a filesystem whose overhead is known,
the protofile, the debugfs script, the FAT copy commands, the image size
of a layout, the refusals and the choice of path."""
import os
import stat

import fixtures
import yaml

from diskimage_builder.block_device import build as build_mod
from diskimage_builder.block_device import config
from diskimage_builder.block_device import offline
from diskimage_builder.block_device import yamldoc
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.offline import content
from diskimage_builder.block_device.offline import ext_times
from diskimage_builder.block_device.offline import filesystems
from diskimage_builder.block_device.offline import fit
from diskimage_builder.block_device.offline import protofile
from diskimage_builder.block_device.offline import sizing
from diskimage_builder.block_device.tests.support.fakes import TestCase

MIB = 1 << 20
PARAMS = {'build-dir': '/b', 'image-dir': '/b/images', 'mount-base': '/m',
          'root-fs-type': 'ext4', 'root-label': 'root'}


def tree(test):
    top = test.useFixture(fixtures.TempDir()).path
    for path, size in (('etc/hostname', 6), ('boot/vmlinuz', 5000),
                       ('boot/efi/EFI/BOOT/BOOTX64.EFI', 3000),
                       ('usr/bin/tool', 9000), ('var/log/empty', 0)):
        full = os.path.join(top, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'wb') as out:
            out.write(b'x' * size)
    os.symlink('tool', os.path.join(top, 'usr/bin/other'))
    os.link(os.path.join(top, 'usr/bin/tool'),
            os.path.join(top, 'usr/bin/hard'))
    return top


class TestSplitAndScan(TestCase):

    def test_each_mount_point_holds_its_part(self):
        top = tree(self)
        parts = content.split(top, ['/', '/boot', '/boot/efi', 'none'])
        self.assertEqual(['/', '/boot', '/boot/efi'], sorted(parts))
        self.assertEqual(('boot',), parts['/'].nested)
        self.assertEqual(('efi',), parts['/boot'].nested)
        self.assertEqual((), parts['/boot/efi'].nested)
        self.assertEqual(os.path.join(top, 'boot'), parts['/boot'].source)

    def test_a_scan_counts_its_part_only(self):
        top = tree(self)
        parts = content.split(top, ['/', '/boot'])
        root = content.scan(parts['/'])
        # /, etc, usr, usr/bin, var, var/log; hostname, tool, hard, other,
        # empty; boot is the other filesystem's.
        self.assertEqual(11, root.entries)
        self.assertEqual(6, root.folders)
        self.assertEqual(['hard links', 'symlinks'],
                         sorted(root.problems))
        # 6 bytes, and 9000 bytes under two names: counted once.
        self.assertEqual(4, root.data_blocks[4096])
        boot = content.scan(parts['/boot'])
        # /boot, vmlinuz, and efi/EFI/BOOT/BOOTX64.EFI (no /boot/efi mount)
        self.assertEqual(6, boot.entries)
        self.assertNotIn('symlinks', boot.problems)

    def test_what_a_type_cannot_hold_is_refused_with_the_files(self):
        top = tree(self)
        scan = content.scan(content.split(top, ['/'])['/'])
        err = self.assertRaises(UsageError, content.refuse, scan, '/',
                                'vfat', ('symlinks',), 'FAT cannot hold')
        self.assertIn("the tree's part for / (vfat) has symlinks, which "
                      "FAT cannot hold: %s/usr/bin/other" % top, str(err))


class TestStage(TestCase):

    def test_a_part_as_it_is_is_not_staged(self):
        top = tree(self)
        parts = content.split(top, ['/', '/boot'])
        self.assertEqual(parts['/boot'].source, content.stage(
            parts['/boot'], '/nonexistent', {}, None))

    def test_staged_with_mount_points_and_the_fstab(self):
        top = tree(self)
        os.chmod(os.path.join(top, 'usr'), 0o750)
        os.utime(os.path.join(top, 'usr'), (1000, 2000))
        parts = content.split(top, ['/', '/boot'])
        work = self.useFixture(fixtures.TempDir()).path
        staged = content.stage(parts['/'], os.path.join(work, 's'),
                               {'etc/fstab': b'LABEL=r / ext4\n'}, None,
                               epoch=1700000000)
        self.assertEqual([], os.listdir(os.path.join(staged, 'boot')))
        self.assertEqual(0o755, stat.S_IMODE(
            os.stat(os.path.join(staged, 'boot')).st_mode))
        with open(os.path.join(staged, 'etc', 'fstab')) as fstab:
            self.assertEqual('LABEL=r / ext4\n', fstab.read())
        usr = os.stat(os.path.join(staged, 'usr'))
        self.assertEqual((0o750, 2000), (stat.S_IMODE(usr.st_mode),
                                         usr.st_mtime))
        # Files are the tree's own, linked.
        self.assertEqual(os.stat(os.path.join(top, 'usr/bin/tool')).st_ino,
                         os.stat(os.path.join(staged,
                                              'usr/bin/tool')).st_ino)
        self.assertTrue(os.path.islink(os.path.join(staged,
                                                    'usr/bin/other')))

    def test_a_folder_above_a_mount_point_keeps_the_trees_times(self):
        # The mount point is made before the folders' times are copied:
        # made after, it gave / of the image the time of the build.
        top = tree(self)
        os.unlink(os.path.join(top, 'var', 'log', 'empty'))
        os.rmdir(os.path.join(top, 'var', 'log'))
        os.utime(os.path.join(top, 'var'), (1000, 2000))
        os.utime(top, (1000, 3000))
        parts = content.split(top, ['/', '/boot', '/var/log'])
        work = self.useFixture(fixtures.TempDir()).path
        staged = content.stage(parts['/'], os.path.join(work, 's'), {},
                               None)
        self.assertEqual(3000, os.stat(staged).st_mtime)
        self.assertEqual(2000, os.stat(os.path.join(staged,
                                                    'var')).st_mtime)
        self.assertTrue(os.path.isdir(os.path.join(staged, 'var', 'log')))

    def test_the_trees_fstab_wins(self):
        top = tree(self)
        os.makedirs(os.path.join(top, 'etc'), exist_ok=True)
        with open(os.path.join(top, 'etc', 'fstab'), 'w') as out:
            out.write('mine\n')
        part = content.split(top, ['/'])['/']
        self.assertEqual(top, content.stage(part, '/nonexistent',
                                            {'etc/fstab': b'x\n'}, None))


class FakeTrials:
    """A filesystem that keeps 10 MiB plus 5% for itself, in 4 KiB
    blocks, with a default of one inode per 16 KiB."""

    def __init__(self):
        self.sizes = []

    def measure(self, fstype, size, opts=()):
        self.sizes.append(size)
        own = 10 * MIB + size // 20
        inodes = int(opts[1]) if opts else size // 16384
        return fit.Room(4096, (size - own) // 4096, inodes)


class TestFit(TestCase):

    def scan(self, data_bytes, entries=100):
        scan = content.Scan(entries=entries, data_bytes=data_bytes)
        scan.add_blocks(scan.data_blocks, data_bytes)
        return scan

    def test_the_smallest_whole_mib_that_holds_it(self):
        trials = FakeTrials()
        found = fit.fit('ext4', self.scan(100 * MIB), trials)
        # 100 MiB plus 1% and 1 MiB of slack, plus 10 MiB and 5%.
        need = 100 * MIB + MIB + 100 * MIB // 100
        self.assertGreaterEqual(found.size * 95 // 100 - 10 * MIB, need)
        self.assertLess((found.size - MIB) * 95 // 100 - 10 * MIB, need)
        self.assertEqual(0, found.size % MIB)
        self.assertLessEqual(len(trials.sizes), fit.TRIALS)

    def test_headroom_min_and_max(self):
        plain = fit.fit('ext4', self.scan(50 * MIB), FakeTrials()).size
        roomy = fit.fit('ext4', self.scan(50 * MIB), FakeTrials(),
                        headroom=64 * MIB).size
        self.assertGreaterEqual(roomy - plain, 64 * MIB)
        self.assertEqual(512 * MIB, fit.fit(
            'ext4', self.scan(50 * MIB), FakeTrials(),
            minimum=512 * MIB).size)
        err = self.assertRaises(UsageError, fit.fit, 'ext4',
                                self.scan(50 * MIB), FakeTrials(),
                                maximum=40 * MIB, where='[1].p')
        self.assertIn('[1].p: the content needs', str(err))
        self.assertIn('more than max-size 40 MiB', str(err))

    def test_many_small_files_get_an_inode_count(self):
        found = fit.fit('ext4', self.scan(MIB, entries=100000),
                        FakeTrials())
        self.assertEqual(('-N', str(100000 + 64 + 10000)), found.opts)

    def test_swap_has_no_content(self):
        err = self.assertRaises(UsageError, fit.fit, 'swap', self.scan(0),
                                FakeTrials(), where='[1].p')
        self.assertIn('swap has none: give its size', str(err))


class TestProtofile(TestCase):

    def test_entries(self):
        top = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(top, 'a'))
        with open(os.path.join(top, 'a', 'f'), 'w'):
            pass
        os.chmod(os.path.join(top, 'a', 'f'), 0o4755)
        os.symlink('/x/y', os.path.join(top, 'l'))
        os.mkfifo(os.path.join(top, 'p'))
        os.chmod(top, 0o755)
        path = protofile.write(top, os.path.join(top + '.proto'))
        uid, gid = os.getuid(), os.getgid()
        with open(path) as proto:
            lines = proto.read().splitlines()
        self.assertEqual(['d--755 %d %d' % (uid, gid),
                          ' a d--755 %d %d' % (uid, gid),
                          '  f -u-755 %d %d %s/a/f' % (uid, gid, top),
                          '  $',
                          ' l l--777 %d %d /x/y' % (uid, gid),
                          ' p p--644 %d %d' % (uid, gid), '$'],
                         lines[2:])

    def test_what_it_cannot_carry(self):
        top = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(top, 'with space'))
        err = self.assertRaises(UsageError, protofile.write, top,
                                top + '.proto')
        self.assertIn("white space or a colon in it: 'with space'", str(err))
        os.rmdir(os.path.join(top, 'with space'))
        os.makedirs(os.path.join(top, 'tmp'))
        os.chmod(os.path.join(top, 'tmp'), 0o1777)
        err = self.assertRaises(UsageError, protofile.write, top,
                                top + '.proto')
        self.assertIn('cannot keep the sticky bit of %s/tmp' % top, str(err))


class TestExtTimes(TestCase):

    def test_root_folder_only_without_an_epoch(self):
        top = self.useFixture(fixtures.TempDir()).path
        os.chmod(top, 0o750)
        os.utime(top, (100, 200))
        self.assertEqual('sif / mode 040750\nsif "/" atime @100\n'
                         'sif "/" mtime @200\n', ext_times.script(top))

    def test_clamped_with_an_epoch(self):
        top = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(top, 'old'), 'w'):
            pass
        os.utime(os.path.join(top, 'old'), (100, 200))
        os.utime(top, (5000, 5000))
        lines = ext_times.script(top, 1000).splitlines()
        self.assertEqual(['sif "/" atime @1000', 'sif "/" mtime @1000',
                          'sif "/" ctime @1000', 'cd "/"',
                          'sif "old" ctime @1000'], lines[1:])


class TestFatCopy(TestCase):

    def test_sorted_folder_by_folder(self):
        top = self.useFixture(fixtures.TempDir()).path
        for path in ('b/y', 'b/x', 'a/z', 'top'):
            os.makedirs(os.path.join(top, os.path.dirname(path)),
                        exist_ok=True)
            with open(os.path.join(top, path), 'w'):
                pass
        target = 'img@@1048576'
        self.assertEqual([
            ['mcopy', '-i', target, '-p', '-m', '-Q', top + '/top', '::/'],
            ['mmd', '-i', target, '::/a'],
            ['mcopy', '-i', target, '-p', '-m', '-Q', top + '/a/z',
             '::/a/'],
            ['mmd', '-i', target, '::/b'],
            ['mcopy', '-i', target, '-p', '-m', '-Q', top + '/b/x',
             top + '/b/y', '::/b/']],
            filesystems.fat_copy_commands(top, target))

    def test_mtools_take_names_as_utf8(self):
        top = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(top, 'ünïcödé ☃.txt'), 'w'):
            pass
        ran = []

        class Recorder:
            def run(self, argv, env=None):
                ran.append((argv[0], env.get('LC_ALL')))

        filesystems._vfat(Recorder(), ['mkfs.vfat'], 'esp.fs', 2048, top,
                          512, {'MTOOLS_SKIP_CHECK': '1'})
        self.assertEqual([('mkfs.vfat', None), ('mcopy', 'C.UTF-8')], ran)

    def test_what_a_loop_partition_tells_mkfs_fat(self):
        # mkfs.fat runs on a file of the partition's size, told the start
        # sector and the geometry it finds on a loop partition.
        self.assertEqual(['-h', '2048', '-g', '64/63'],
                         filesystems.fat_device_opts(['mkfs.vfat', '-n',
                                                      'ESP'], 2048))
        self.assertEqual(['-S', '4096', '-h', '256', '-g', '64/63'],
                         filesystems.fat_device_opts(['mkfs.vfat'], 256,
                                                     4096))
        self.assertEqual([], filesystems.fat_device_opts(
            ['mkfs.vfat', '-S', '512', '-h', '0', '-g', '255/63'], 2048,
            4096))


class TestImageSize(TestCase):

    def nodes(self, sizes_, label='gpt'):
        parts = ''.join('      - {name: p%d, size: %s}\n' % (n, s)
                        for n, s in enumerate(sizes_))
        text = ('- local_loop: {name: image0}\n- partitioning:\n'
                '    base: image0\n    label: %s\n    partitions:\n%s'
                % (label, parts))
        return config.build(yaml.safe_load(text), PARAMS)

    def test_the_smallest_mib_the_layout_fits(self):
        # GPT: 1 MiB before the first partition, and the backup table in
        # the last MiB.  MBR: two logical partitions, each after its EBR
        # in an aligned MiB of its own.
        self.assertEqual(12 * MIB, sizing.image_bytes(self.nodes(
            ['4MiB', '6MiB'])))
        self.assertEqual(13 * MIB, sizing.image_bytes(self.nodes(
            ['4MiB', '6MiB'], 'mbr')))

    def test_a_percentage_is_a_circle(self):
        err = self.assertRaises(UsageError, sizing.image_bytes,
                                self.nodes(['4MiB', '100%']))
        self.assertIn('a percentage of a size worked out from them is a '
                      'circle', str(err))


class TestAutoInConfig(TestCase):

    TEXT = ('- local_loop: {name: image0}\n- partitioning:\n'
            '    base: image0\n    label: gpt\n    partitions:\n'
            '      - {name: root, size: auto, headroom: 1GiB,\n'
            '         mkfs: {type: ext4, mount: {mount_point: /}}}\n')

    def test_init_refuses_auto_naming_the_partition(self):
        nodes = config.build(yaml.safe_load(self.TEXT), PARAMS)
        from diskimage_builder.block_device import blockdevice
        err = self.assertRaises(ConfigError, blockdevice.plan,
                                dict(PARAMS, **{'image-size': '1GiB'}),
                                nodes)
        self.assertEqual('[1].partitioning.partitions[0].size: auto is '
                         'worked out from the tree the image is built from: '
                         'only build --root fills it in', str(err))

    def test_auto_keys_go_with_auto_only(self):
        text = self.TEXT.replace('size: auto', 'size: 1GiB')
        err = self.assertRaises(ConfigError, config.build,
                                yaml.safe_load(text), PARAMS)
        self.assertEqual('[1].partitioning.partitions[0].headroom: goes '
                         'with size: auto only', str(err))

    def test_yaml_paths_find_entries(self):
        items = yaml.safe_load(self.TEXT)
        self.assertEqual('auto', yamldoc.at(
            items, '[1].partitioning.partitions[0]')['size'])
        self.assertEqual('ext4', yamldoc.at(
            items, '[1].partitioning.partitions[0].mkfs')['type'])


class TestPaths(TestCase):

    LVM = ('- local_loop: {name: image0}\n'
           '- lvm: {pvs: [{name: pv, base: image0}], vgs: [{name: vg, '
           'base: [pv]}], lvs: [{name: lv, base: vg, size: 64MiB}]}\n')

    def test_offline_refuses_what_needs_the_kernel(self):
        nodes = config.build(yaml.safe_load(self.LVM), PARAMS)
        lines = offline.refusals(nodes)
        self.assertEqual(3, len(lines))
        self.assertTrue(lines[0].startswith(
            '[1].lvm.pvs[0]: lvm needs device-mapper (LVM); build --offline '
            'makes partition tables, partitions and filesystems'), lines[0])
        err = self.assertRaises(UsageError, offline.check, nodes)
        self.assertIn('(and 2 more node(s))', str(err))

    def test_auto_takes_the_kernel_path_when_it_can(self):
        nodes = config.build(yaml.safe_load(TestAutoInConfig.TEXT.replace(
            'size: auto, headroom: 1GiB', 'size: 100%')), PARAMS)
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.build.kernel_path_problem',
            lambda: None))
        self.assertEqual('kernel', build_mod.choose_mode('auto', nodes))
        self.assertEqual('offline', build_mod.choose_mode('offline', nodes))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.build.kernel_path_problem',
            lambda: 'not root (uid 65534)'))
        self.assertEqual('offline', build_mod.choose_mode('auto', nodes))
        err = self.assertRaises(UsageError, build_mod.choose_mode, 'kernel',
                                nodes)
        self.assertEqual('--mode kernel: not root (uid 65534)', str(err))
        lvm = config.build(yaml.safe_load(self.LVM), PARAMS)
        err = self.assertRaises(UsageError, build_mod.choose_mode, 'auto',
                                lvm)
        self.assertIn('neither path can build this: the kernel path needs '
                      'root and loop devices (not root (uid 65534)), and '
                      '[1].lvm.pvs[0]: lvm needs device-mapper', str(err))

    def test_fakeroot_is_no_root(self):
        self.useFixture(fixtures.EnvironmentVariable('FAKEROOTKEY', '1234'))
        self.assertEqual('running under fakeroot, which is no root',
                         build_mod.kernel_path_problem())
