"""Bad input only a real host shows: an image that cannot be made where
it should go, and a whole build under umask 000.  Each refusal is one
error line, exit 2, nothing attached and nothing left."""
import json
import os
import stat

import fixtures

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import run


LOOP_ONLY = """
- local_loop:
    name: image0
"""

GPT = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: 100%
        mkfs:
          type: ext4
          mount: {mount_point: /, fstab: {}}
"""


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if 'error:' in line]


class HostCase(base.FunctionalTestCase):

    def assert_refused(self, proc, *expected):
        """Exit 2, one error line holding each of *expected*, no
        traceback; returns the line."""
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        lines = error_lines(proc)
        self.assertEqual(1, len(lines), proc.stderr)
        for text in expected:
            self.assertIn(text, lines[0])
        return lines[0]

    def assert_nothing_held(self, build):
        self.assertEqual([], held.leftovers(build.root))
        state = os.path.join(build.state_folder, 'state.json')
        if os.path.exists(state):
            with open(state) as src:
                self.assertEqual([], json.load(src)['journal'])
        # And teardown has nothing to do.
        build.phase('cleanup')

    def mounted(self, source, fstype, options, device=False):
        """A filesystem mounted on a fresh temp dir for this test only,
        unmounted (and its loop device detached) at cleanup."""
        target = self.useFixture(fixtures.TempDir()).path
        if device:
            loop = run(['losetup', '--find', '--show', source]).stdout.strip()
            self.addCleanup(run, ['losetup', '-d', loop], check=False)
            source = loop
        run(['mount', '-t', fstype, '-o', options, source, target])
        self.addCleanup(run, ['umount', target], check=False)
        os.chmod(target, 0o755)
        return target


class TestImageCannotBeMade(HostCase):

    def test_raw_path_is_a_directory_at_create(self):
        # Not there at init (init refuses it then, see the unit tier);
        # made before create: refused before anything is attached, and
        # the directory is left alone.
        build = self.useFixture(Build(GPT, image_size='256MiB'))
        build.phase('init')
        os.makedirs(os.path.join(build.image(), 'inside'))
        proc = build.phase('create', check=False)
        self.assert_refused(proc, '[0].local_loop: the image %s is a '
                            'directory' % build.image())
        self.assertEqual([], build.commands())
        self.assertTrue(os.path.isdir(os.path.join(build.image(), 'inside')))
        self.assert_nothing_held(build)

    def test_image_folder_became_a_file_at_create(self):
        build = self.useFixture(Build(GPT, image_size='256MiB'))
        build.phase('init')
        with open(build.image_dir, 'w') as out:
            out.write('not a folder')
        proc = build.phase('create', check=False)
        self.assert_refused(proc, 'image-dir')
        self.assertEqual([], build.commands())
        self.assert_nothing_held(build)

    def test_image_larger_than_the_filesystem_takes(self):
        # ext2 with 1 KiB blocks holds files of about 16 GiB at most:
        # ftruncate fails with EFBIG.  (tmpfs takes sparse files up to
        # 8 EiB, the largest size this tool accepts: no EFBIG there.)
        scratch = self.useFixture(fixtures.TempDir()).path
        backing = os.path.join(scratch, 'small.ext2')
        run(['truncate', '-s', '16M', backing])
        run(['mkfs.ext2', '-q', '-F', '-b', '1024', backing])
        folder = self.mounted(backing, 'ext2', 'rw', device=True)
        images = os.path.join(folder, 'images')
        build = self.useFixture(Build(LOOP_ONLY, image_size='64GiB',
                                      **{'image-dir': images}))
        build.phase('init')
        proc = build.phase('create', check=False)
        self.assert_refused(proc, '[0].local_loop: cannot make the 64 GiB '
                            'image image0.raw in %s: File too large' % images)
        self.assertEqual([], build.commands())
        self.assertEqual([], os.listdir(images))
        self.assert_nothing_held(build)

    def test_no_room_for_the_image_file_on_a_small_tmpfs(self):
        # A tmpfs with no inode left for the image file: ENOSPC.
        folder = self.mounted('tmpfs', 'tmpfs', 'size=1m,nr_inodes=2,'
                              'mode=0755')
        images = os.path.join(folder, 'images')
        os.mkdir(images, 0o755)
        build = self.useFixture(Build(LOOP_ONLY, image_size='1GiB',
                                      **{'image-dir': images}))
        build.phase('init')
        proc = build.phase('create', check=False)
        self.assert_refused(proc, '[0].local_loop: cannot make the 1 GiB '
                            'image image0.raw in %s: No space left on '
                            'device' % images)
        self.assertEqual([], os.listdir(images))
        self.assert_nothing_held(build)


class TestUmask000(HostCase):

    def test_a_whole_build_under_umask_000(self):
        # Without the command line's own umask, create made image-dir
        # 0777 and every later phase refused it as writable by others.
        build = self.useFixture(Build(GPT, image_size='256MiB'))
        old = os.umask(0)
        self.addCleanup(os.umask, old)
        for phase in ('init', 'create', 'writefstab', 'umount'):
            build.phase(phase)
        for path in (build.state_folder,
                     build.image_dir, build.mount_base, build.image(),
                     build.build_dir + '/built/etc/fstab'):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            self.assertFalse(mode & 0o022, '%s is %o' % (path, mode))
        build.phase('cleanup')
        self.assertEqual([], held.leftovers(build.root))


class TestMbrPartitionLimit(HostCase):

    def test_the_last_logical_partition_linux_registers(self):
        # init refuses partition 256 (unit tier); 251 logical ones,
        # numbered 5 to 255, all appear on a real loop device.
        parts = '\n'.join('      - {name: p%d, size: 1MiB}' % i
                          for i in range(251))
        build = self.useFixture(Build(
            '- local_loop: {name: image0}\n- partitioning:\n    base: '
            'image0\n    label: mbr\n    partitions:\n' + parts + '\n',
            image_size='600MiB'))
        build.phase('init')
        build.phase('create')
        device = build.getval('image-block-device')
        name = os.path.basename(device)
        numbers = sorted(int(entry[len(name) + 1:])
                         for entry in os.listdir('/sys/block/' + name)
                         if entry.startswith(name + 'p'))
        self.assertEqual(255, numbers[-1])
        self.assertEqual(list(range(5, 256)), [n for n in numbers if n > 4])
        build.phase('cleanup')
        self.assertEqual([], held.leftovers(build.root))
