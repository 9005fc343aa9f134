"""With a seed, two builds of one config get the same identifiers; with
SOURCE_DATE_EPOCH, ``build`` gives byte-identical ext images."""
import filecmp
import os
import sys

import fixtures

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import ReadBack


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


LAYOUT = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: BSP, type: 'EF02', size: 1MiB}
      - name: boot
        size: 32MiB
        mkfs: {type: ext2, label: boot,
               mount: {mount_point: /boot, fstab: {}}}
      - name: root
        size: 100%
        mkfs: {type: ext4, label: root, mount: {mount_point: /, fstab: {}}}
"""


class TestByteIdentical(base.FunctionalTestCase):
    """ext2 and ext4 written through the kernel, and still the same bytes
    from two builds with SOURCE_DATE_EPOCH."""

    def tree(self, root):
        os.makedirs(os.path.join(root, 'boot', 'grub'))
        os.makedirs(os.path.join(root, 'usr', 'lib'))
        with open(os.path.join(root, 'boot', 'grub', 'grub.cfg'), 'w') as f:
            f.write('set timeout=1\n')
        for index in range(200):
            with open(os.path.join(root, 'usr', 'lib', 'f%d' % index),
                      'wb') as out:
                out.write(os.urandom(index * 97))
        os.symlink('lib/f1', os.path.join(root, 'usr', 'link'))
        os.link(os.path.join(root, 'usr', 'lib', 'f2'),
                os.path.join(root, 'usr', 'hard'))

    def build(self, work, tree, name, env, *extra):
        config = os.path.join(work, 'layout.yaml')
        with open(config, 'w') as out:
            out.write(LAYOUT)
        output = os.path.join(work, name)
        base.run([sys.executable, '-m', 'diskimage_builder.block_device',
                  'build', '--config', config, '--root', tree, '--output',
                  output, '--size', '128MiB'] + list(extra), cwd=base.REPO,
                 env=dict(os.environ, **env))
        return output

    def test_two_builds_same_bytes(self):
        work = self.useFixture(fixtures.TempDir()).path
        tree = os.path.join(work, 'tree')
        self.tree(tree)
        env = {'SOURCE_DATE_EPOCH': '1700000000'}
        first = self.build(work, tree, 'a.raw', env)
        second = self.build(work, tree, 'b.raw', env)
        self.assertTrue(filecmp.cmp(first, second, shallow=False),
                        'the images differ')
        back = self.useFixture(ReadBack(first))
        for number in (2, 3):
            base.run(['e2fsck', '-f', '-n', back.partition(number)])
        root = back.mount(back.partition(3), 'ext4')
        info = os.lstat(os.path.join(root, 'usr', 'lib', 'f5'))
        self.assertEqual(1700000000, info.st_ctime)
        with open(os.path.join(root, 'etc', 'fstab')) as src:
            self.assertIn('LABEL=boot /boot ext2', src.read())

    def test_without_the_epoch_they_differ(self):
        work = self.useFixture(fixtures.TempDir()).path
        tree = os.path.join(work, 'tree')
        self.tree(tree)
        env = {'SOURCE_DATE_EPOCH': '', 'DIB_BLOCK_DEVICE_SEED': 'fixed'}
        first = self.build(work, tree, 'a.raw', env)
        second = self.build(work, tree, 'b.raw', env)
        self.assertFalse(filecmp.cmp(first, second, shallow=False))

    def test_seed_option_fixes_the_identifiers(self):
        work = self.useFixture(fixtures.TempDir()).path
        tree = os.path.join(work, 'tree')
        self.tree(tree)
        env = {'SOURCE_DATE_EPOCH': '', 'DIB_BLOCK_DEVICE_SEED': ''}
        tables = []
        for name in ('a.raw', 'b.raw'):
            image = self.build(work, tree, name, env, '--seed', 'v1')
            table = base.sfdisk_json(image)
            back = self.useFixture(ReadBack(image))
            tables.append((table['id'], [p['uuid'] for p in
                                         table['partitions']],
                           back.blkid(back.partition(3))['UUID']))
        self.assertEqual(tables[0], tables[1])
