"""Create's undo and the teardown phases, driven by the journal alone, on
the fake host: releases in reverse, idempotent, every step tried, and
nothing released that is not what this build acquired."""
import errno
import json
import os

import fixtures

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import claims
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import \
    unmount_commands


class BuildOnFakeHost(TestCase):
    """A build whose create left: its image, loop4 with two partitions,
    the root filesystem mounted at mnt/a and /boot at mnt/a/boot, and a
    claim; plus, on the same host, things that are not this build's."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.root = self.useFixture(fixtures.TempDir()).path
        self.params = {'build-dir': self.path('build'),
                       'image-dir': self.path('images'),
                       'mount-base': self.path('mnt/a')}
        self.folder = state_mod.state_dir(self.params['build-dir'])
        for folder in (self.folder, self.path('images'), self.path('mnt/a'),
                       self.path('elsewhere')):
            os.makedirs(folder, mode=0o755)
        os.chmod(self.folder, 0o700)
        self.image = self.file('images/image0.raw')
        self.foreign = self.file('elsewhere/other.raw')
        state_mod.write_json(os.path.join(self.folder, 'config.json'), {
            'version': state_mod.FORMAT_VERSION, 'params': self.params,
            'nodes': [{'plugin': 'local_loop', 'name': 'image0',
                       'facts': {'image_path': self.image}}],
            'plugins': {}, 'values': {}})
        self.loop4 = self.host.add_loop('loop4', '7:4', self.image,
                                        partitions=(1, 2))
        self.host.add_loop('loop5', '7:5', self.foreign)
        self.host.add_mount(self.path('mnt/a'), '259:66', '/dev/loop4p2')
        self.host.add_mount(self.path('mnt/a/boot'), '259:65',
                            '/dev/loop4p1')
        self.state = state_mod.State(self.folder)
        self.hold('image0', 'image-file', 'delete', path=self.image,
                  **resources.file_identity(self.image))
        self.hold('image0', 'loop', file=self.image, device='/dev/loop4',
                  devnum='7:4', **resources.file_identity(self.image))
        self.hold_mount('mnt/a', '/dev/loop4p2', '259:66', 100)
        self.hold_mount('mnt/a/boot', '/dev/loop4p1', '259:65', 101)
        owner = os.path.realpath(self.folder)
        claims.take('image', self.image, owner)
        self.hold('image0', 'claim', 'cleanup', claim='image',
                  name=self.image, owner=owner)

    def path(self, relative):
        return os.path.join(self.root, relative)

    def file(self, relative):
        with open(self.path(relative), 'w'):
            pass
        return self.path(relative)

    def hold(self, node, kind, released_by='umount', **args):
        return self.state.hold(node, 'test', kind, released_by, **args)

    def hold_mount(self, relative, device, devnum, mount_id):
        return self.hold('m', 'mount', target=self.path(relative),
                         device=device, devnum=devnum, mount_id=mount_id)

    def runner(self, expected):
        return FakeRunner(expected, effects=FakeKernel(self.host).effects())

    def unmounts(self, *relatives):
        return [argv for relative in relatives
                for argv in unmount_commands(self.path(relative))]

    def journal(self):
        return [e['kind'] for e in state_mod.State.load(self.folder).journal]


class TestTeardown(BuildOnFakeHost):

    def test_umount_releases_in_reverse_and_keeps_the_image(self):
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'umount')
        runner.assert_done()
        self.assertTrue(os.path.exists(self.image))
        self.assertEqual(['image-file', 'claim'], self.journal())
        self.assertEqual([], self.host.mounts())
        self.assertEqual(['loop5'], [lp.name for lp in self.host.loops()])

    def test_second_run_is_a_no_op(self):
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'umount')
        runner = self.runner([])
        teardown.teardown(self.params, runner, 'umount')
        teardown.teardown(self.params, runner, 'cleanup')
        teardown.teardown(self.params, runner, 'cleanup')
        teardown.teardown(self.params, runner, 'delete')
        self.assertEqual([], runner.ran)
        self.assertFalse(os.path.exists(self.folder))
        self.assertTrue(os.path.exists(self.image))
        self.assertIsNone(claims.holder_of(claims.claim_path(
            'image', self.image)))

    def test_delete_removes_the_image_and_state(self):
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'delete')
        runner.assert_done()
        self.assertFalse(os.path.exists(self.image))
        self.assertFalse(os.path.exists(self.folder))
        self.assertTrue(os.path.exists(self.foreign))

    def test_every_step_runs_and_failures_are_reported_together(self):
        runner = self.runner(
            self.unmounts('mnt/a/boot')[:2] + [
                (['umount', self.path('mnt/a/boot')], 'target is busy', 32),
                (['fuser', '-vm', self.path('mnt/a/boot')], '')] +
            self.unmounts('mnt/a')[:2] + [
                (['umount', self.path('mnt/a')], 'target is busy', 32),
                (['fuser', '-vm', self.path('mnt/a')], ''),
                ['losetup', '--detach', self.loop4]])
        err = self.assertRaises(blockdevice.TeardownError,
                                blockdevice.teardown, self.params, runner,
                                'cleanup')
        runner.assert_done()
        self.assertIn('cleanup left 2 resource(s) held', str(err))
        self.assertIn('cannot unmount %s' % self.path('mnt/a/boot'),
                      str(err))
        # What failed stays journaled for the next try; the rest is gone.
        self.assertTrue(os.path.exists(self.folder))
        self.assertEqual(['image-file', 'mount', 'mount'], self.journal())

    def test_no_state_folder_is_fine(self):
        params = {'build-dir': self.path('nothing')}
        for phase in ('umount', 'cleanup', 'delete'):
            teardown.teardown(params, FakeRunner([]), phase)
        self.assertFalse(os.path.exists(self.path('nothing')))

    def test_unknown_kind_is_reported_not_skipped(self):
        entry = {'kind': 'warp-core', 'node': 'n', 'plugin': 'p', 'args': {}}
        err = self.assertRaises(resources.ReleaseError, resources.release,
                                resources.Scope(FakeRunner([])), entry)
        self.assertIn("no way known to release a 'warp-core'", str(err))


class TestFullDisk(BuildOnFakeHost):
    """ENOSPC while saving the journal: the teardown goes on in memory,
    reports it, and a later run finishes the job."""

    def test_teardown_keeps_going_and_says_so(self):
        saves = []

        def full(path, data):
            saves.append(path)
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_write = state_mod.write_json
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.state.write_json', full))
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        err = self.assertRaises(blockdevice.TeardownError,
                                blockdevice.teardown, self.params, runner,
                                'cleanup')
        runner.assert_done()
        self.assertIn('No space left on device', str(err))
        self.assertIn('run cleanup again', str(err))
        self.assertGreater(len(saves), 3)
        # Space again: the same phase finishes; nothing is released twice.
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.state.write_json', real_write))
        runner = self.runner([])
        teardown.teardown(self.params, runner, 'cleanup')
        self.assertEqual([], runner.ran)
        self.assertFalse(os.path.exists(self.folder))


class TestForeignEntries(BuildOnFakeHost):
    """A state edited by hand: each kind of entry pointed at something
    this build did not make.  It is left alone, said so in one line, the
    phase exits 1, and the rest is released."""

    def released_but(self, phase='umount', extra=()):
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]] + list(extra))
        err = self.assertRaises(blockdevice.TeardownError,
                                blockdevice.teardown, self.params, runner,
                                phase)
        runner.assert_done()
        self.assertEqual(1, err.exit_status)
        lines = [line for line in str(err).splitlines()
                 if 'left alone' in line]
        self.assertEqual(1, len(lines), str(err))
        return lines[0]

    def test_loop_of_a_file_outside_the_config(self):
        self.hold('x', 'loop', file=self.foreign,
                  **resources.file_identity(self.foreign))
        line = self.released_but()
        self.assertIn('not an image file of this build', line)
        self.assertIn('loop5', [lp.name for lp in self.host.loops()])

    def test_loop_entry_naming_another_files_identity(self):
        self.hold('x', 'loop', file=self.image,
                  **resources.file_identity(self.foreign))
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'umount')
        runner.assert_done()
        self.assertIn('loop5', [lp.name for lp in self.host.loops()])

    def test_mount_outside_mount_base(self):
        self.host.add_mount(self.path('elsewhere'), '0:44', 'tmpfs', 'tmpfs')
        self.hold('x', 'mount', target=self.path('elsewhere'),
                  device='tmpfs', devnum='0:44')
        line = self.released_but()
        self.assertIn('is not below this build\'s mount-base', line)
        self.assertEqual([self.path('elsewhere')],
                         [m.target for m in self.host.mounts()])

    def test_mount_below_mount_base_that_is_not_ours(self):
        os.makedirs(self.path('mnt/a/srv'))
        self.host.add_mount(self.path('mnt/a/srv'), '0:45', 'tmpfs',
                            'tmpfs')
        self.hold('x', 'mount', target=self.path('mnt/a/srv'),
                  device='/dev/loop4p1', devnum='259:65')
        # Released first (newest): left alone, so mnt/a stays busy in a
        # real kernel; here the fake unmounts it regardless.
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        err = self.assertRaises(blockdevice.TeardownError,
                                blockdevice.teardown, self.params, runner,
                                'umount')
        self.assertIn('is not the mount this build made', str(err))
        self.assertEqual([self.path('mnt/a/srv')],
                         [m.target for m in self.host.mounts()])

    def test_image_file_outside_the_config(self):
        self.hold('x', 'image-file', 'delete', path=self.foreign,
                  **resources.file_identity(self.foreign))
        self.released_but('delete')
        self.assertTrue(os.path.exists(self.foreign))

    def test_image_file_replaced_since(self):
        self.state.journal[0]['args']['ino'] += 1
        self.state.save()
        line = self.released_but('delete')
        self.assertIn('is not the image file this build made', line)
        self.assertTrue(os.path.exists(self.image))

    def test_device_node_that_is_a_regular_file(self):
        regular = os.path.join(self.host.dev_root, 'not-a-node')
        self.host.write(regular, 'data')
        self.hold('x', 'device-node', path=regular, devnum='7:4')
        self.released_but()
        self.assertTrue(os.path.exists(regular))

    def test_device_node_of_another_device(self):
        node = self.host.node(os.path.join(self.host.dev_root, 'sdz'),
                              '8:0')
        self.hold('x', 'device-node', path=node, devnum='7:99')
        self.released_but()
        self.assertTrue(os.path.exists(node))

    def test_device_node_outside_dev(self):
        self.hold('x', 'device-node', path=self.foreign, devnum='7:5')
        self.released_but()
        self.assertTrue(os.path.exists(self.foreign))

    def test_claim_of_another_build(self):
        # A live build (its state journals the claim): a stale one would
        # be swept away by any phase.
        other = self.path('other/states/block-device')
        os.makedirs(other)
        with open(os.path.join(other, 'state.json'), 'w') as out:
            json.dump({'journal': [{'kind': 'claim', 'args': {
                'claim': 'vg', 'name': 'theirs'}}]}, out)
        claims.take('vg', 'theirs', other)
        self.hold('x', 'claim', 'cleanup', claim='vg', name='theirs',
                  owner=os.path.realpath(self.folder))
        self.released_but('cleanup')
        self.assertEqual(other, claims.holder_of(
            claims.claim_path('vg', 'theirs')))

    def test_stale_claims_are_swept(self):
        claims.take('image', '/gone/image0.raw', '/gone/states/block-device')
        self.hold('x', 'claim', 'cleanup', claim='image', name='x',
                  owner=os.path.realpath(self.folder))
        claims.take('image', 'x', os.path.realpath(self.folder))
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'umount')
        left = os.listdir(claims.claims_dir())
        self.assertNotIn('image:%2Fgone%2Fimage0.raw', left)
        self.assertIn('image:x', left)      # this build's, held

    def test_claims_folder_in_the_entry_is_ignored(self):
        victim = self.file('elsewhere/victim')
        with open(victim, 'w') as out:
            out.write(os.path.realpath(self.folder))
        self.hold('x', 'claim', 'cleanup', claim='image', name='x',
                  owner=os.path.realpath(self.folder),
                  claims_dir=self.path('elsewhere'))
        runner = self.runner(self.unmounts('mnt/a/boot', 'mnt/a') + [
            ['losetup', '--detach', self.loop4]])
        teardown.teardown(self.params, runner, 'cleanup')
        self.assertTrue(os.path.exists(victim))


class TestHostWing(TestCase):
    """The host wing's reads and bounded waits, on the fake tree."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host

    def test_partition_names_and_nodes_without_udev(self):
        self.host.add_disk('loop3', '7:3')
        self.host.add_partition('loop3', 2, '259:7')
        os.unlink(os.path.join(self.host.dev_root, 'loop3p2'))
        self.assertEqual('loop3p2', self.host.partition_name('/dev/loop3',
                                                             2))
        self.assertIsNone(self.host.partition_name('/dev/loop3', 1))
        journaled = []
        path = self.host.wait_for_node(
            'loop3p2', timeout=1, grace=0.01,
            on_create=lambda path, devnum: journaled.append((path, devnum)))
        self.assertEqual(os.path.join(self.host.dev_root, 'loop3p2'), path)
        self.assertEqual([(path, '259:7')], journaled)
        self.assertEqual('259:7', self.host.devnum(path))

    def test_waits_are_bounded(self):
        err = self.assertRaises(Exception, self.host.wait_for_node,
                                'loop9p1', timeout=0.05)
        self.assertIn('did not happen within', str(err))
        self.assertEqual(1, err.exit_status)

    def test_mountinfo_escapes(self):
        os.makedirs(os.path.join(self.host.root, 'a b'))
        self.host.add_mount(os.path.join(self.host.root, 'a b'), '8:1',
                            '/dev/sd a')
        mount, = self.host.mounts()
        self.assertEqual((os.path.join(self.host.root, 'a b'), '/dev/sd a'),
                         (mount.target, mount.source))
        self.assertTrue(self.host.is_mount_point(os.path.join(
            self.host.root, 'a b')))

    def test_loops_and_what_they_stand_on(self):
        backing = os.path.join(self.host.root, 'image.raw')
        with open(backing, 'w'):
            pass
        self.host.add_loop('loop1', '7:1', backing, partitions=(1,))
        self.host.add_dm('dm-0', '253:0', 'vg-lv', 'LVM-x', over=['loop1p1'])
        info = os.stat(backing)
        self.assertEqual(['loop1'], [lp.name for lp in
                                     self.host.loops_backed_by(
                                         (info.st_dev, info.st_ino))])
        self.assertEqual(['loop1p1'], self.host.devices_under('dm-0'))
        self.assertEqual(['dm-0'], self.host.holders('loop1p1'))
