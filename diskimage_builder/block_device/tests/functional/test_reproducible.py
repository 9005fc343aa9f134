"""With a seed, two builds of one config get the same identifiers."""
import pytest

from diskimage_builder.block_device.tests.functional import base
from diskimage_builder.block_device.tests.functional.base import Build
from diskimage_builder.block_device.tests.functional.base import ReadBack

pytestmark = pytest.mark.host

CONFIG = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: BSP, type: 'EF02', size: 8MiB}
      - name: boot
        size: 128MiB
        mkfs: {type: ext2, mount: {mount_point: /boot}}
      - name: root
        size: 100%
        mkfs: {type: ext4, mount: {mount_point: /}}
- local_loop: {name: image1, size: 64MiB}
- partitioning:
    base: image1
    label: mbr
    partitions:
      - {name: data, size: 100%, flags: [primary],
         mkfs: {type: ext4, mount: {mount_point: /data}}}
"""


class TestReproducible(base.FunctionalTestCase):

    def identifiers(self, env):
        build = self.useFixture(Build(CONFIG, image_size='512MiB'))
        build.phase('init')
        build.phase('create', env=env)
        build.phase('umount')
        build.phase('cleanup')
        found = {}
        for image in ('image0', 'image1'):
            table = base.sfdisk_json(build.image(image))
            found[image] = {'id': table['id'], 'parts': [
                (p['start'], p['size'], p['type'], p.get('uuid'),
                 p.get('name')) for p in table['partitions']]}
            back = self.useFixture(ReadBack(build.image(image)))
            for number in range(1, len(table['partitions']) + 1):
                probed = back.blkid(back.partition(number))
                hash_seed = base.run(['dumpe2fs', '-h', back.partition(
                    number)], check=False).stdout
                seed_lines = [line for line in hash_seed.splitlines()
                              if 'Hash Seed' in line or
                              'created' in line]
                found['%s-%d' % (image, number)] = (
                    probed.get('UUID'), probed.get('PART_ENTRY_UUID'),
                    seed_lines)
        return found

    def test_same_seed_same_identifiers(self):
        env = {'SOURCE_DATE_EPOCH': '1700000000'}
        first = self.identifiers(env)
        second = self.identifiers(env)
        self.assertEqual(first, second)
        self.assertIn('Filesystem created:       Tue Nov 14 22:13:20 2023',
                      first['image0-3'][2])

    def test_without_seed_they_differ(self):
        env = {'SOURCE_DATE_EPOCH': '', 'DIB_BLOCK_DEVICE_SEED': ''}
        first = self.identifiers(env)
        second = self.identifiers(env)
        self.assertNotEqual(first['image0']['id'], second['image0']['id'])
        self.assertNotEqual(first['image0-3'][0], second['image0-3'][0])
