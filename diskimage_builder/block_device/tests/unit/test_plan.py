"""plan: the layout worked out without touching anything."""
import io
import json
import os

import fixtures

from diskimage_builder.block_device import cli
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support import commands

CONFIG = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: BSP, type: 'EF02', size: 8MiB}
      - name: root
        size: 100%
        mkfs: {type: ext4, label: root, mount: {mount_point: /, fstab: {}}}
"""


class TestPlan(TestCase):

    def plan(self, *extra, config=CONFIG, size='1GiB'):
        root = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(root, 'config.yaml')
        with open(path, 'w') as out:
            out.write(config)
        stdout = io.StringIO()
        stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        status = cli.main(['plan', '--config', path, '--size', size] +
                          list(extra))
        self.assertEqual([], os.listdir(root)[1:], 'plan wrote files')
        return status, stdout.getvalue(), stderr.getvalue()

    def test_json(self):
        status, out, _ = self.plan('--format', 'json')
        self.assertEqual(0, status)
        plan = json.loads(out)
        self.assertEqual(1, plan['version'])
        nodes = {n['name']: n for n in plan['nodes']}
        # 1 GiB: usable 34..2097118; root from 18432, aligned down to 1MiB
        self.assertEqual({'size': 2076672 * 512, 'start': 18432 * 512,
                          'first_lba': 18432, 'last_lba': 2095103,
                          'number': 2, 'sector_size': 512, 'zeroed': True},
                         nodes['root']['planned'])
        self.assertEqual(['LABEL=root / ext4 defaults 0 2'], plan['fstab'])

    def test_tree(self):
        status, out, _ = self.plan()
        self.assertEqual(0, status)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith('NAME'))
        self.assertIn('#2 sectors 18432-2095103', out)
        self.assertIn('`-mkfs_root', out)
        self.assertIn('LABEL=root / ext4 defaults 0 2', out)

    def test_dot(self):
        status, out, _ = self.plan('--format', 'dot')
        self.assertEqual(0, status)
        self.assertTrue(out.startswith('digraph block_device {'))
        self.assertIn('"root" -> "mkfs_root";', out)

    def test_too_small_fails_with_the_numbers(self):
        status, _, err = self.plan(size='9MiB')
        self.assertEqual(2, status)
        self.assertIn('[1].partitioning.partitions[0]: partition BSP needs '
                      '8 MiB but only 7 MiB is left (disk 9 MiB, of which '
                      'the last 2 MiB are kept free)', err)

    def test_commands_in_creation_order(self):
        status, out, _ = self.plan('--format', 'json')
        self.assertEqual(0, status)
        plan = json.loads(out)
        image = plan['nodes'][0]['facts']['image_path']
        self.assertEqual([
            ('image0', 'create',
             ['losetup', '--find', '--show', '--partscan', image], None),
            ('table:image0', 'create',
             ['partx', '--update', '--nr', '1:2', '<device of image0>'],
             'the kernel registers no partition on re-reading the table, '
             'as a kernel without the gpt parser does'),
            ('mkfs_root', 'create',
             ['mkfs.ext4', '-F', '-q', '-E',
              'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '-L',
              'root', '<device of root>'], None),
            ('mkfs_root', 'create',
             ['blkid', '-p', '-o', 'export', '<device of root>'], None),
            ('mount_mkfs_root', 'create',
             ['mount', '-t', 'ext4', '<device of root>', '/mnt'], None),
        ], [(c['node'], c['phase'], c['argv'], c.get('when'))
            for c in plan['commands']])

    def test_tree_lists_the_commands(self):
        status, out, _ = self.plan()
        self.assertEqual(0, status)
        self.assertIn('\ncommands:\n', out)
        self.assertIn('  mount -t ext4 <device of root> /mnt\n', out + '\n')
        self.assertIn('      (only when the kernel registers no partition',
                      out)


class TestCompareCommands(TestCase):
    PLANNED = [
        {'argv': ['losetup', '--find', '/img']},
        {'argv': ['partx', '--update', '<device of image0>'],
         'when': 'the kernel lacks the parser'},
        {'argv': ['mkfs.ext4', '<device of root>']},
        {'argv': ['pvcreate', '--devices', '<device of a>,<device of b>']},
        {'argv': ['mount', '<device of root>', '/mnt']},
    ]
    RAN = [['losetup', '--find', '/img'],
           ['partx', '--update', '/dev/loop3'],
           ['mkfs.ext4', '/dev/loop3p1'],
           ['pvcreate', '--devices', '/dev/loop3p2,/dev/loop4p2'],
           ['mount', '/dev/loop3p1', '/mnt']]

    def compare(self, ran):
        return commands.compare_commands(self.PLANNED, ran)

    def test_same_commands(self):
        self.assertEqual([], self.compare(self.RAN))

    def test_a_conditional_command_may_be_absent(self):
        self.assertEqual([], self.compare(self.RAN[:1] + self.RAN[2:]))

    def test_a_placeholder_is_one_value_everywhere(self):
        ran = [list(argv) for argv in self.RAN]
        ran[4][1] = '/dev/loop3p9'
        self.assertEqual(['command 5: planned mount <device of root> /mnt, '
                          'ran mount /dev/loop3p9 /mnt'], self.compare(ran))

    def test_a_placeholder_takes_no_comma(self):
        ran = [list(argv) for argv in self.RAN]
        ran[3][2] = '/dev/loop3p2,/dev/x,/dev/loop4p2'
        self.assertEqual(1, len(self.compare(ran)))

    def test_a_missing_command(self):
        self.assertEqual(['command 5: planned mount <device of root> /mnt, '
                          'ran nothing more'], self.compare(self.RAN[:4]))

    def test_an_unplanned_command(self):
        self.assertEqual(["command 6: ran umount /mnt, which was not "
                          "planned"],
                         self.compare(self.RAN + [['umount', '/mnt']]))

    def test_a_different_option(self):
        ran = [list(argv) for argv in self.RAN]
        ran[2][0] = 'mkfs.xfs'
        self.assertEqual(['command 3: planned mkfs.ext4 <device of root>, '
                          'ran mkfs.xfs /dev/loop3p1'], self.compare(ran))
