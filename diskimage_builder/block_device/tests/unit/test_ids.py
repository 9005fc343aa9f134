import uuid

import fixtures

from diskimage_builder.block_device import ids
from diskimage_builder.block_device.level2 import mkfs
from diskimage_builder.block_device.tests.support.fakes import TestCase


class TestIds(TestCase):

    def test_random_without_a_seed(self):
        self.useFixture(fixtures.EnvironmentVariable('SOURCE_DATE_EPOCH'))
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_SEED'))
        self.assertNotEqual(ids.make_uuid('a', 'disk'),
                            ids.make_uuid('a', 'disk'))
        self.assertFalse(ids.seeded())

    def test_derived_from_seed_node_and_purpose(self):
        self.useFixture(fixtures.EnvironmentVariable('SOURCE_DATE_EPOCH',
                                                     '1700000000'))
        first = ids.make_uuid('root', 'partition')
        self.assertEqual(first, ids.make_uuid('root', 'partition'))
        self.assertEqual(4, first.version)
        self.assertEqual(uuid.RFC_4122, first.variant)
        self.assertNotEqual(first, ids.make_uuid('root', 'filesystem'))
        self.assertNotEqual(first, ids.make_uuid('boot', 'partition'))
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_SEED', 'other'))
        self.assertNotEqual(first, ids.make_uuid('root', 'partition'))

    def test_seeded_mkfs_argv(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_SEED', 's'))
        node = mkfs.MkfsNode('mkfs', 'fs', '[1].mkfs', ['p'], {},
                             {'fstype': 'ext4', 'label': 'r', 'opts': []})
        argv = node.argv('/dev/x')
        self.assertEqual(['mkfs.ext4', '-F', '-q', '-L', 'r', '-U',
                          str(ids.make_uuid('fs', 'filesystem')), '-E',
                          'hash_seed=%s' % ids.make_uuid('fs', 'hash'),
                          '/dev/x'], argv)
        vfat = mkfs.MkfsNode('mkfs', 'esp', '[1].mkfs', ['p'], {},
                             {'fstype': 'vfat', 'label': 'EFI', 'opts': []})
        hexa = ids.make_uuid('esp', 'filesystem').hex.upper()
        self.assertEqual(['mkfs.vfat', '-n', 'EFI', '-i', hexa[:8],
                          '--invariant', '/dev/x'], vfat.argv('/dev/x'))
