"""The trust boundary on real devices: teardown touches only what this
build made, whatever its state file says; folders other users control
are refused before anything is made; no file is written through a
symlink; a full disk under the build folder is survived; create and
cleanup running at once never both "succeed" into a broken state."""
import json
import os
import stat
import subprocess
import sys

import fixtures

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build

SIMPLE = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: 100%
        mkfs: {type: ext4, mount: {mount_point: /, fstab: {}}}
"""


def add_entry(build, kind, released_by='umount', plugin='local_loop',
              **args):
    """Edit the build's state by hand: one more journal entry."""
    data = build.state()
    data['journal'].append({'id': data['next_id'], 'node': 'forged',
                            'plugin': plugin, 'kind': kind,
                            'released_by': released_by, 'args': args})
    data['next_id'] += 1
    with open(os.path.join(build.state_folder, 'state.json'), 'w') as out:
        json.dump(data, out)


class Foreign(fixtures.Fixture):
    """Things on the host that are not the build's: a loop device on a
    file elsewhere, a tmpfs mounted elsewhere and one below mount-base,
    a plain file, a block device node, another build's claim."""

    def __init__(self, build):
        self.build = build

    def _setUp(self):
        root = self.useFixture(fixtures.TempDir()).path
        self.file = os.path.join(root, 'other.raw')
        with open(self.file, 'wb') as out:
            out.truncate(8 << 20)
        self.loop = base.run(['losetup', '--find', '--show',
                              self.file]).stdout.strip()
        self.addCleanup(base.run, ['losetup', '-d', self.loop], check=False)
        self.mount = os.path.join(root, 'mnt')
        os.mkdir(self.mount)
        base.run(['mount', '-t', 'tmpfs', 'foreign', self.mount])
        self.addCleanup(base.run, ['umount', self.mount], check=False)
        rdev = os.stat(self.loop).st_rdev
        self.node = '/dev/dib-test-node-%d' % os.getpid()
        os.mknod(self.node, 0o600 | stat.S_IFBLK, rdev)
        self.addCleanup(lambda: os.path.lexists(self.node) and
                        os.unlink(self.node))
        self.devnum = '%d:%d' % (os.major(rdev), os.minor(rdev))
        info = os.stat(self.file)
        self.file_id = {'dev': info.st_dev, 'ino': info.st_ino}

    def intact(self, test):
        test.assertTrue(os.path.exists(self.file))
        test.assertIn(self.file, base.run(['losetup', '-ln', '-O',
                                           'BACK-FILE']).stdout)
        test.assertEqual(0, base.run(['findmnt', self.mount],
                                     check=False).returncode)
        test.assertTrue(stat.S_ISBLK(os.lstat(self.node).st_mode))


class TestJournalTampering(base.FunctionalTestCase):
    """Each kind of entry pointed at something the test made: it survives,
    the phase says so in one line and exits 1, and the build's own
    resources are all released."""

    def setUp(self):
        super().setUp()
        self.build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        self.build.phase('init')
        self.build.phase('create')
        self.foreign = self.useFixture(Foreign(self.build))

    def teardown_reports_one(self, phase='delete'):
        proc = self.build.phase(phase, check=False)
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        left = [line for line in proc.stderr.splitlines()
                if 'left alone' in line]
        self.assertEqual(1, len(left), proc.stderr)
        self.foreign.intact(self)
        self.assertEqual([], held.leftovers(self.build.root))
        # The entry is gone with the rest: a second run finishes.
        self.build.phase(phase)
        return left[0]

    def test_loop_of_another_file(self):
        add_entry(self.build, 'loop', file=self.foreign.file,
                  **self.foreign.file_id)
        self.assertIn('not an image file of this build',
                      self.teardown_reports_one('umount'))

    def test_loop_entry_with_the_image_path_and_another_files_identity(self):
        add_entry(self.build, 'loop', file=self.build.image(),
                  **self.foreign.file_id)
        self.build.phase('delete')
        self.foreign.intact(self)
        self.assertEqual([], held.leftovers(self.build.root))

    def test_mount_outside_mount_base(self):
        add_entry(self.build, 'mount', target=self.foreign.mount,
                  device='foreign', devnum='0:1')
        self.assertIn('not below this build\'s mount-base',
                      self.teardown_reports_one())

    def test_mount_of_something_else_below_mount_base(self):
        inner = os.path.join(self.build.mount_base, 'srv')
        os.mkdir(inner)
        base.run(['mount', '-t', 'tmpfs', 'inner', inner])
        self.addCleanup(base.run, ['umount', inner], check=False)
        add_entry(self.build, 'mount', target=inner, device='/dev/sda9',
                  devnum='8:9')
        proc = self.build.phase('umount', check=False)
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertIn('is not the mount this build made', proc.stderr)
        self.assertEqual(0, base.run(['findmnt', inner],
                                     check=False).returncode)
        base.run(['umount', inner])
        self.build.phase('delete')
        self.assertEqual([], held.leftovers(self.build.root))

    def test_image_file_that_is_another_file(self):
        add_entry(self.build, 'image-file', 'delete', path=self.foreign.file,
                  **self.foreign.file_id)
        self.teardown_reports_one()

    def test_device_node_that_is_a_regular_file(self):
        add_entry(self.build, 'device-node', path=self.foreign.file,
                  devnum=self.foreign.devnum)
        self.teardown_reports_one()

    def test_device_node_of_another_device(self):
        add_entry(self.build, 'device-node', path=self.foreign.node,
                  devnum='7:250')
        self.teardown_reports_one()

    def test_claim_of_another_build(self):
        claims = os.environ['DIB_BD_CLAIMS_DIR']
        os.makedirs(claims, exist_ok=True)
        # A live build holds it: its state journals the claim (a claim
        # of a gone build is stale and any phase sweeps it).
        other = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(other, 'state.json'), 'w') as out:
            json.dump({'journal': [{'kind': 'claim', 'args': {
                'claim': 'vg', 'name': 'theirs'}}]}, out)
        theirs = os.path.join(claims, 'vg:theirs')
        with open(theirs, 'w') as out:
            out.write(other)
        add_entry(self.build, 'claim', 'cleanup', claim='vg', name='theirs',
                  owner='/x', claims_dir=os.path.dirname(self.foreign.file))
        self.teardown_reports_one('cleanup')
        self.assertTrue(os.path.exists(theirs))

    def test_ext_times_on_another_filesystem(self):
        other = self.foreign.loop
        base.run(['mkfs.ext4', '-q', '-F', other])
        before = base.run(['dumpe2fs', '-h', other]).stdout
        add_entry(self.build, 'ext-times', plugin='mount',
                  target=self.foreign.mount,
                  device=other, devnum=self.foreign.devnum, epoch=1,
                  mount_point='/', uuid='00000000-0000-4000-8000-0000000000'
                  '00')
        self.teardown_reports_one()
        self.assertEqual(before, base.run(['dumpe2fs', '-h', other]).stdout)

    def test_plugin_map_naming_another_module(self):
        marker = os.path.join(self.build.root, 'imported')
        module_dir = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(module_dir, 'evil.py'), 'w') as out:
            out.write('open(%r, "w").close()\nclass Lvm: pass\n' % marker)
        path = os.path.join(self.build.build_dir, 'states', 'block-device',
                            'config.json')
        with open(path) as src:
            data = json.load(src)
        data['plugins']['lvm'] = 'evil:Lvm'
        with open(path, 'w') as out:
            json.dump(data, out)
        add_entry(self.build, 'lvm-vg', vg='nosuch', devices=[],
                  devnums=[])
        data = self.build.state()
        data['journal'][-1]['plugin'] = 'lvm'
        with open(os.path.join(self.build.state_folder, 'state.json'),
                  'w') as out:
            json.dump(data, out)
        self.build.phase('delete', env={'PYTHONPATH': module_dir})
        self.assertFalse(os.path.exists(marker))


class TestFolders(base.FunctionalTestCase):
    """Folders another user controls, or that overlap, are refused at
    init: exit 2, one line, nothing made."""

    def refused(self, expected, **params):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB', **params))
        proc = build.phase('init', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertIn(expected, proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(build.build_dir,
                                                     'states')))
        return build

    def other_users_dir(self):
        path = self.useFixture(fixtures.TempDir()).path
        os.chown(path, 65534, 65534)
        return path

    def other_users_link(self, target):
        link = os.path.join(self.useFixture(fixtures.TempDir()).path, 'link')
        os.symlink(target, link)
        os.lchown(link, 65534, 65534)
        return link

    def test_mount_base_symlink_of_another_user(self):
        target = self.useFixture(fixtures.TempDir()).path
        self.refused('is a symlink owned by uid 65534',
                     **{'mount-base': self.other_users_link(target)})

    def test_image_dir_symlink_of_another_user(self):
        target = self.useFixture(fixtures.TempDir()).path
        self.refused('is a symlink owned by uid 65534',
                     **{'image-dir': self.other_users_link(target)})

    def test_image_dir_owned_by_another_user(self):
        self.refused('belongs to uid 65534',
                     **{'image-dir': self.other_users_dir()})

    def test_world_writable_mount_base(self):
        path = self.useFixture(fixtures.TempDir()).path
        os.chmod(path, 0o777)
        self.refused('writable by other users', **{'mount-base': path})

    def test_overlaps(self):
        root = self.useFixture(fixtures.TempDir()).path
        self.refused('at or below mount-base', **{
            'mount-base': root, 'build-dir': os.path.join(root, 'b')})
        self.refused('at or below mount-base', **{
            'mount-base': root, 'image-dir': root})
        self.refused('params.mount-base: must not be /',
                     **{'mount-base': '/'})

    def test_sticky_tmpfs_build_dir_is_accepted(self):
        # disk-image-create mounts a tmpfs (mode 1777) on its build dir
        # and another on its image dir.
        root = self.useFixture(fixtures.TempDir()).path
        build_dir = os.path.join(root, 'tmpfs')
        image_dir = os.path.join(root, 'image-tmpfs')
        for folder in (build_dir, image_dir):
            os.mkdir(folder)
            base.run(['mount', '-t', 'tmpfs', 'dib', folder])
            self.addCleanup(base.run, ['umount', folder], check=False)
            self.assertEqual(0o1777, os.stat(folder).st_mode & 0o7777)
        build = self.useFixture(Build(SIMPLE, image_size='64MiB', **{
            'build-dir': build_dir, 'image-dir': image_dir,
            'mount-base': os.path.join(build_dir, 'mnt')}))
        build.phase('init')
        folder = os.path.join(build_dir, 'states', 'block-device')
        self.assertEqual(0o700, os.stat(folder).st_mode & 0o7777)
        build.phase('create')
        self.assertTrue(os.path.isfile(os.path.join(image_dir,
                                                    'image0.raw')))
        build.phase('cleanup')
        # A file another user put at the image's path in the sticky
        # folder is theirs: create leaves it and says so.
        planted = os.path.join(image_dir, 'image0.raw')
        os.unlink(planted)
        with open(planted, 'w') as out:
            out.write('theirs')
        os.chown(planted, 65534, 65534)
        build.phase('init')
        proc = build.phase('create', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertIn('belongs to uid 65534: not replacing it', proc.stderr)
        with open(planted) as src:
            self.assertEqual('theirs', src.read())
        self.assertEqual([], held.leftovers(build.root))
        os.unlink(planted)
        # Another user's states/ planted there first is refused.
        base.run(['rm', '-rf', os.path.join(build_dir, 'states')])
        os.mkdir(os.path.join(build_dir, 'states'))
        os.chown(os.path.join(build_dir, 'states'), 65534, 65534)
        proc = build.phase('init', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertIn('belongs to uid 65534', proc.stderr)

    def test_reinit_while_resources_are_held(self):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        build.phase('init')
        build.phase('create')
        other = self.useFixture(fixtures.TempDir()).path
        with open(build.params_path, 'a') as out:
            out.write('image-dir: %s\n' % other)
        proc = build.phase('init', check=False)
        self.assertEqual(3, proc.returncode, proc.stderr)
        self.assertIn('still holds', proc.stderr)
        proc = build.phase('cleanup', check=False)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual([], held.leftovers(build.root))


class TestNoWritesThroughSymlinks(base.FunctionalTestCase):

    def test_writefstab_with_a_symlinked_built_etc(self):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        victim_dir = self.useFixture(fixtures.TempDir()).path
        victim = os.path.join(victim_dir, 'fstab')
        with open(victim, 'w') as out:
            out.write('precious\n')
        base.run(['rm', '-rf', os.path.join(build.build_dir, 'built')])
        os.makedirs(os.path.join(build.build_dir, 'built'))
        os.symlink(victim_dir, os.path.join(build.build_dir, 'built', 'etc'))
        build.phase('init')
        build.phase('create')
        proc = build.phase('writefstab', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertIn('refusing to write through it', proc.stderr)
        with open(victim) as src:
            self.assertEqual('precious\n', src.read())
        build.phase('cleanup')

    def test_writefstab_with_a_symlink_where_fstab_goes(self):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        victim = os.path.join(self.useFixture(fixtures.TempDir()).path, 'v')
        with open(victim, 'w') as out:
            out.write('precious\n')
        os.symlink(victim, os.path.join(build.build_dir, 'built', 'etc',
                                        'fstab'))
        build.phase('init')
        build.phase('create')
        proc = build.phase('writefstab', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        with open(victim) as src:
            self.assertEqual('precious\n', src.read())
        build.phase('cleanup')

    def test_state_copies_are_private(self):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        build.phase('init')
        build.phase('create')
        build.phase('writefstab')
        folder = build.state_folder
        for name in os.listdir(folder):
            mode = os.stat(os.path.join(folder, name)).st_mode & 0o777
            self.assertEqual(0o600, mode, name)
        build.phase('cleanup')

    def test_build_root_with_an_absolute_etc_symlink(self):
        tree = self.useFixture(fixtures.TempDir()).path
        victim_dir = self.useFixture(fixtures.TempDir()).path
        os.symlink(victim_dir, os.path.join(tree, 'etc'))
        out = self.useFixture(fixtures.TempDir()).path
        proc = base.run([sys.executable, '-m',
                         'diskimage_builder.block_device', 'build',
                         '--root', tree, '--output', out + '/disk.raw',
                         '--size', '64MiB'], check=False, cwd=base.REPO)
        self.assertNotEqual(0, proc.returncode, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertIn('refusing to write through it', proc.stderr)
        self.assertEqual([], os.listdir(victim_dir))
        self.assertEqual([], held.leftovers(out))


class TestFullDisk(base.FunctionalTestCase):
    """The build folder on a small tmpfs that fills up right before each
    command of create in turn (a shim of that command fills it first):
    the next journal write fails, create undoes everything with the
    journal in memory, reports it without a traceback; once space is
    freed, one cleanup finishes."""

    def test_enospc_at_each_point_of_create(self):
        root = self.useFixture(fixtures.TempDir()).path
        small = os.path.join(root, 'small')
        os.mkdir(small)
        base.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'full', small])
        self.addCleanup(base.run, ['umount', small], check=False)
        build = self.useFixture(Build(SIMPLE, image_size='64MiB', **{
            'build-dir': os.path.join(small, 'b')}))
        build.phase('init')
        build.phase('create')
        commands = sorted({argv[0] for argv in build.commands()})
        build.phase('cleanup')
        self.assertIn('mkfs.ext4', commands)
        filler = os.path.join(small, 'filler')
        for command in commands:
            build.phase('init')
            shims = self._shim(command, filler)
            proc = build.phase('create', check=False, env={
                'PATH': shims + ':' + os.environ['PATH']})
            self.assertEqual(1, proc.returncode, (command, proc.stderr))
            self.assertIn('No space left on device', proc.stderr)
            self.assertNotIn('Traceback', proc.stderr)
            self.assertEqual([], held.leftovers(build.root), command)
            os.unlink(filler)
            build.phase('cleanup')
            self.assertFalse(os.path.exists(os.path.join(
                small, 'b', 'states', 'block-device')), command)
        print('full disk right before each of %s: create undone, cleanup '
              'finished' % ', '.join(commands))

    def _shim(self, command, filler):
        """A folder with *command* filling the disk, then running."""
        import shutil
        shims = self.useFixture(fixtures.TempDir()).path
        real = shutil.which(command)
        with open(os.path.join(shims, command), 'w') as out:
            out.write('#!/bin/sh\ncat /dev/zero > %s 2>/dev/null\n'
                      'exec %s "$@"\n' % (filler, real))
        os.chmod(os.path.join(shims, command), 0o755)
        return shims


class TestCreateAgainstCleanup(base.FunctionalTestCase):

    def test_race(self):
        build = self.useFixture(Build(SIMPLE, image_size='64MiB'))
        for _ in range(6):
            build.phase('init')
            env = dict(os.environ, DIB_BD_COMMAND_LOG=build.command_log)
            argv = [sys.executable, '-m', 'diskimage_builder.block_device',
                    '--params', build.params_path]
            create = subprocess.Popen(argv + ['create'], env=env,
                                      cwd=base.REPO, stderr=subprocess.PIPE)
            cleanup = subprocess.Popen(argv + ['cleanup'], env=env,
                                       cwd=base.REPO, stderr=subprocess.PIPE)
            statuses = (create.wait(), cleanup.wait())
            create.stderr.close()
            cleanup.stderr.close()
            folder = build.state_folder
            if os.path.exists(folder):
                # Whatever the order, a state folder left has its config.
                self.assertTrue(os.path.exists(os.path.join(
                    folder, 'config.json')), statuses)
            self.assertIn(statuses, [(0, 0), (0, 3), (3, 0)])
            build.phase('cleanup')
            self.assertEqual([], held.leftovers(build.root))
