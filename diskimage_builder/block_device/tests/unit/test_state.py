"""The state folder: atomic 0600 JSON, versions, the lock, the journal."""
import json
import os

import fixtures

from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.errors import StateError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.tests.support.fakes import TestCase


class TestState(TestCase):

    def setUp(self):
        super().setUp()
        self.folder = self.useFixture(fixtures.TempDir()).path

    def test_round_trip_and_mode(self):
        state = state_mod.State(self.folder)
        state.record('image0', device='/dev/loop7', size=1)
        entry = state.hold('image0', 'local_loop', 'loop', file='/x.raw')
        self.assertEqual(0o600, os.stat(state.path).st_mode & 0o777)
        again = state_mod.State.load(self.folder)
        self.assertEqual({'device': '/dev/loop7', 'size': 1},
                         again.results('image0'))
        self.assertEqual([{'id': 1, 'node': 'image0', 'plugin': 'local_loop',
                           'kind': 'loop', 'released_by': 'umount',
                           'args': {'file': '/x.raw'}}], again.journal)
        state.drop(entry)
        self.assertEqual([], state_mod.State.load(self.folder).journal)
        self.assertEqual([], [f for f in os.listdir(self.folder)
                              if '.tmp.' in f])

    def test_missing_is_none(self):
        self.assertIsNone(state_mod.State.load(self.folder))

    def test_damaged_and_old_formats_say_the_way_out(self):
        path = os.path.join(self.folder, 'state.json')
        with open(path, 'w') as out:
            out.write('{"version": 1, "results": ')
        err = self.assertRaises(StateError, state_mod.State.load, self.folder)
        self.assertIn('is damaged', str(err))
        self.assertIn('cleanup --from-system', str(err))
        for old in (0, 1):
            # Format 1 journals carried no identities: such a state is
            # released by cleanup --from-system, which needs none.
            with open(path, 'w') as out:
                json.dump({'version': old}, out)
            err = self.assertRaises(StateError, state_mod.State.load,
                                    self.folder)
            self.assertIn('format %d, this tool reads format 2' % old,
                          str(err))
            self.assertIn('cleanup --from-system', str(err))

    def test_lock_excludes_a_second_holder(self):
        folder = state_mod.state_dir(os.path.join(self.folder, 'build'))
        with state_mod.locked(folder, create=True):
            err = self.assertRaises(StateError, state_mod.locked(
                folder).__enter__)
            self.assertIn('in use by another', str(err))
        with state_mod.locked(folder) as present:
            self.assertTrue(present)
        self.assertEqual(0o700, os.stat(folder).st_mode & 0o777)

    def test_readers_share_the_lock(self):
        folder = state_mod.state_dir(os.path.join(self.folder, 'build'))
        with state_mod.locked(folder, create=True, shared=True):
            with state_mod.locked(folder, shared=True) as present:
                self.assertTrue(present)
            err = self.assertRaises(StateError, state_mod.locked(
                folder).__enter__)
            self.assertIn('in use by another', str(err))

    def test_the_lock_outlives_the_state_folder(self):
        # cleanup removes the state folder while holding the lock; a
        # phase that gets the lock afterwards finds no state and makes
        # none.
        folder = state_mod.state_dir(os.path.join(self.folder, 'build'))
        with state_mod.locked(folder, create=True):
            os.rmdir(folder)
        with state_mod.locked(folder) as present:
            self.assertFalse(present)
        self.assertFalse(os.path.exists(folder))

    def test_refuses_folders_others_can_write(self):
        build = os.path.join(self.folder, 'build')
        os.makedirs(build)
        os.chmod(build, 0o777)
        err = self.assertRaises(UsageError, state_mod.locked(
            state_mod.state_dir(build)).__enter__)
        self.assertIn('writable by other users and not sticky (mode 777)',
                      str(err))
        self.assertFalse(os.path.exists(os.path.join(build, 'states')))

    def test_refuses_a_symlink_owned_by_someone_else(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to make a symlink owned by another '
                          'user')
        real = os.path.join(self.folder, 'real')
        os.makedirs(real)
        link = os.path.join(self.folder, 'build')
        os.symlink(real, link)
        os.lchown(link, 65534, 65534)
        err = self.assertRaises(UsageError, state_mod.locked(
            state_mod.state_dir(link)).__enter__)
        self.assertIn('is a symlink owned by uid 65534', str(err))

    def test_write_json_never_follows_a_planted_symlink(self):
        target = os.path.join(self.folder, 'elsewhere')
        path = os.path.join(self.folder, 'state.json')
        os.symlink(target, path + '.tmp.%d' % os.getpid())
        self.assertRaises(OSError, state_mod.write_json, path, {'a': 1})
        self.assertFalse(os.path.exists(target))


class TestHandEdited(TestCase):

    def test_malformed_journal_entries_are_refused(self):
        folder = self.useFixture(fixtures.TempDir()).path
        good = {'version': 2, 'results': {}, 'next_id': 2, 'journal': [
            {'id': 1, 'node': 'a', 'plugin': 'local_loop', 'kind': 'loop',
             'released_by': 'umount', 'args': {'file': '/x'}}]}
        bad_entries = [
            {'released_by': 'never'}, {'args': ['x']}, {'kind': None},
            {'node': 3},
        ]
        for change in bad_entries:
            entry = dict(good['journal'][0], **change)
            data = dict(good, journal=[entry])
            state_mod.write_json(os.path.join(folder, 'state.json'), data)
            err = self.assertRaises(StateError, state_mod.State.load,
                                    folder)
            self.assertIn('journal entry 0 is malformed', str(err))
        for key, value in (('journal', {}), ('results', []),
                           ('next_id', 'x')):
            state_mod.write_json(os.path.join(folder, 'state.json'),
                                 dict(good, **{key: value}))
            self.assertRaises(StateError, state_mod.State.load, folder)
        state_mod.write_json(os.path.join(folder, 'state.json'), good)
        self.assertEqual(1, len(state_mod.State.load(folder).journal))
