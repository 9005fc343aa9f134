"""Identifiers derived from the seed, and the commands they go into."""
import uuid

import testtools

from diskimage_builder.block_device.level2 import mkfs
from diskimage_builder.block_device.repro import Repro


class TestRepro(testtools.TestCase):

    def test_random_without_a_seed(self):
        repro = Repro.from_environ({})
        self.assertFalse(repro.seeded)
        self.assertIsNone(repro.env())
        self.assertNotEqual(repro.uuid('a', 'disk'), repro.uuid('a', 'disk'))

    def test_the_epoch_seeds_and_sets_the_clock(self):
        repro = Repro.from_environ({'SOURCE_DATE_EPOCH': '1700000000'})
        self.assertEqual(Repro('1700000000', 1700000000), repro)
        self.assertEqual({'E2FSPROGS_FAKE_TIME': '1700000000'}, repro.env())

    def test_the_seed_wins(self):
        environ = {'SOURCE_DATE_EPOCH': '1700000000',
                   'DIB_BLOCK_DEVICE_SEED': 'env'}
        self.assertEqual('env', Repro.from_environ(environ).seed)
        self.assertEqual('arg', Repro.from_environ(environ, 'arg').seed)
        self.assertEqual(1700000000, Repro.from_environ(environ).epoch)

    def test_not_an_epoch(self):
        self.assertEqual(Repro(), Repro.from_environ(
            {'SOURCE_DATE_EPOCH': 'soon'}))

    def test_derived_from_seed_node_and_purpose(self):
        repro = Repro('s')
        first = repro.uuid('root', 'partition')
        self.assertEqual(first, Repro('s').uuid('root', 'partition'))
        self.assertEqual(4, first.version)
        self.assertEqual(uuid.RFC_4122, first.variant)
        self.assertEqual(uuid.UUID('%s' % first), first)
        self.assertNotEqual(first, repro.uuid('root', 'filesystem'))
        self.assertNotEqual(first, repro.uuid('boot', 'partition'))
        self.assertNotEqual(first, Repro('other').uuid('root', 'partition'))

    def test_seeded_mkfs_argv(self):
        repro = Repro('s')
        node = mkfs.MkfsNode('mkfs', 'fs', '[1].mkfs', ['p'], {},
                             {'fstype': 'ext4', 'label': 'r', 'opts': []})
        self.assertEqual(['mkfs.ext4', '-F', '-q', '-L', 'r', '-U',
                          str(repro.uuid('fs', 'filesystem')), '-E',
                          'hash_seed=%s' % repro.uuid('fs', 'hash'),
                          '/dev/x'], node.argv('/dev/x', repro))
        vfat = mkfs.MkfsNode('mkfs', 'esp', '[1].mkfs', ['p'], {},
                             {'fstype': 'vfat', 'label': 'EFI', 'opts': []})
        hexa = repro.uuid('esp', 'filesystem').hex.upper()
        self.assertEqual(['mkfs.vfat', '-n', 'EFI', '-i', hexa[:8],
                          '--invariant', '/dev/x'],
                         vfat.argv('/dev/x', repro))
        self.assertEqual(['mkfs.ext4', '-F', '-q', '-L', 'r', '/dev/x'],
                         node.argv('/dev/x', Repro()))

    def test_one_extended_option_list(self):
        # mke2fs keeps only its last -E: the seeded hash seed, the options
        # for a zeroed device and the config's own must be one list.
        repro = Repro('s')
        node = mkfs.MkfsNode('mkfs', 'fs', '[1].mkfs', ['p'], {},
                             {'fstype': 'ext4', 'label': 'r',
                              'opts': ['-E', 'stride=4', '-b', '4096']})
        argv = node.argv('/dev/x', repro, zeroed=True)
        self.assertEqual(1, argv.count('-E'))
        self.assertEqual(
            'lazy_itable_init=1,lazy_journal_init=1,nodiscard,hash_seed=%s,'
            'stride=4' % repro.uuid('fs', 'hash'),
            argv[argv.index('-E') + 1])
        self.assertEqual(['mkfs.ext4', '-F', '-q', '-E'], argv[:4])
        self.assertEqual(['-b', '4096', '/dev/x'], argv[-3:])
