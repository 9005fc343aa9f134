"""Create's undo and the teardown phases, driven by the journal alone."""
import os

import fixtures

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import sysfs
from diskimage_builder.block_device.tests.fakes import FakeRunner
from diskimage_builder.block_device.tests.fakes import TestCase
from diskimage_builder.block_device.tests.fakes import unmount_commands


class FakeSystem(fixtures.Fixture):
    """What sysfs would say: which paths are mounted, which loops exist."""

    def __init__(self, mounted=(), loops=None):
        self.mounted = set(mounted)
        self.loops = dict(loops or {})

    def _setUp(self):
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.sysfs.is_mount_point',
            lambda path: path in self.mounted))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.sysfs.loops_backed_by',
            lambda path: [d for d, f in sorted(self.loops.items())
                          if f == path]))
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))


class TestTeardown(TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.params = {'build-dir': os.path.join(self.root, 'build')}
        self.folder = blockdevice.state_folder(self.params)
        os.makedirs(self.folder)
        self.image = os.path.join(self.root, 'image0.raw')
        with open(self.image, 'w'):
            pass
        state = state_mod.State(self.folder)
        state.hold('image0', 'local_loop', 'image-file', 'delete',
                   path=self.image)
        state.hold('image0', 'local_loop', 'loop', file=self.image)
        state.hold('mount_root', 'mount', 'mount', target='/mnt/a')
        state.hold('mount_boot', 'mount', 'mount', target='/mnt/a/boot')
        self.system = self.useFixture(FakeSystem(
            mounted={'/mnt/a', '/mnt/a/boot'},
            loops={'/dev/loop4': self.image}))

    def test_umount_releases_in_reverse_and_keeps_the_image(self):
        runner = FakeRunner(
            unmount_commands('/mnt/a/boot') + unmount_commands('/mnt/a') +
            [['losetup', '--detach', '/dev/loop4']])
        blockdevice.teardown(self.params, runner, 'umount')
        runner.assert_done()
        self.assertTrue(os.path.exists(self.image))
        journal = state_mod.State.load(self.folder).journal
        self.assertEqual(['image-file'], [e['kind'] for e in journal])

    def test_second_run_is_a_no_op(self):
        self.system.mounted.clear()
        self.system.loops.clear()
        runner = FakeRunner([])
        blockdevice.teardown(self.params, runner, 'umount')
        blockdevice.teardown(self.params, runner, 'umount')
        blockdevice.teardown(self.params, runner, 'cleanup')
        blockdevice.teardown(self.params, runner, 'cleanup')
        blockdevice.teardown(self.params, runner, 'delete')
        self.assertEqual([], runner.ran)
        self.assertFalse(os.path.exists(self.folder))
        self.assertTrue(os.path.exists(self.image))

    def test_delete_removes_the_image_and_state(self):
        runner = FakeRunner(
            unmount_commands('/mnt/a/boot') + unmount_commands('/mnt/a') +
            [['losetup', '--detach', '/dev/loop4']])
        blockdevice.teardown(self.params, runner, 'delete')
        runner.assert_done()
        self.assertFalse(os.path.exists(self.image))
        self.assertFalse(os.path.exists(self.folder))

    def test_every_step_runs_and_failures_are_reported_together(self):
        runner = FakeRunner(
            unmount_commands('/mnt/a/boot')[:2] + [
                (['umount', '/mnt/a/boot'], 'target is busy', 32),
                (['fuser', '-vm', '/mnt/a/boot'], '')] +
            unmount_commands('/mnt/a')[:2] + [
                (['umount', '/mnt/a'], 'target is busy', 32),
                (['fuser', '-vm', '/mnt/a'], ''),
                ['losetup', '--detach', '/dev/loop4']])
        err = self.assertRaises(blockdevice.TeardownError,
                                blockdevice.teardown, self.params, runner,
                                'cleanup')
        runner.assert_done()
        self.assertIn('cleanup left 2 resource(s) held', str(err))
        self.assertIn('cannot unmount /mnt/a/boot', str(err))
        self.assertIn('cannot unmount /mnt/a:', str(err))
        # what failed stays journaled for the next try; the rest is gone
        self.assertTrue(os.path.exists(self.folder))
        self.assertEqual(['image-file', 'mount', 'mount'], [
            e['kind'] for e in state_mod.State.load(self.folder).journal])

    def test_no_state_folder_is_fine(self):
        params = {'build-dir': os.path.join(self.root, 'nothing')}
        for phase in ('umount', 'cleanup', 'delete'):
            blockdevice.teardown(params, FakeRunner([]), phase)

    def test_unknown_kind_is_reported_not_skipped(self):
        entry = {'kind': 'warp-core', 'node': 'n', 'plugin': 'p', 'args': {}}
        err = self.assertRaises(resources.ReleaseError, resources.release,
                                FakeRunner([]), entry)
        self.assertIn("no way known to release a 'warp-core'", str(err))


class TestSysfs(TestCase):

    def test_partition_name_and_node_creation_without_udev(self):
        root = self.useFixture(fixtures.TempDir()).path
        sys_block = os.path.join(root, 'sys')
        os.makedirs(os.path.join(sys_block, 'loop3', 'loop3p2'))
        with open(os.path.join(sys_block, 'loop3', 'loop3p2', 'partition'),
                  'w') as out:
            out.write('2\n')
        os.makedirs(os.path.join(sys_block, 'loop3p2'))
        with open(os.path.join(sys_block, 'loop3p2', 'dev'), 'w') as out:
            out.write('259:7\n')
        self.assertEqual('loop3p2', sysfs.partition_name(
            '/dev/loop3', 2, sys_block=sys_block))
        self.assertIsNone(sysfs.partition_name('/dev/loop3', 1,
                                               sys_block=sys_block))
        made = []

        def fake_mknod(path, mode, device):
            made.append((path, os.major(device), os.minor(device)))
        self.useFixture(fixtures.MonkeyPatch('os.mknod', fake_mknod))
        dev = os.path.join(root, 'dev')
        os.makedirs(dev)
        journaled = []
        path = sysfs.wait_for_node('loop3p2', timeout=1, grace=0.01,
                                   dev_root=dev, sys_block=sys_block,
                                   on_create=journaled.append)
        self.assertEqual(os.path.join(dev, 'loop3p2'), path)
        self.assertEqual([(path, 259, 7)], made)
        self.assertEqual([path], journaled)

    def test_wait_is_bounded(self):
        root = self.useFixture(fixtures.TempDir()).path
        err = self.assertRaises(OSError, sysfs.wait_for_node, 'loop9p1',
                                timeout=0.05, dev_root=root, sys_block=root)
        self.assertIn('did not appear', str(err))
