"""plan: the layout worked out without touching anything."""
import io
import json
import os

import fixtures

from diskimage_builder.block_device import cli
from diskimage_builder.block_device.tests.fakes import TestCase

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
        self.assertEqual(['LABEL=root / ext4 defaults 0 1'], plan['fstab'])

    def test_tree(self):
        status, out, _ = self.plan()
        self.assertEqual(0, status)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith('NAME'))
        self.assertIn('#2 sectors 18432-2095103', out)
        self.assertIn('`-mkfs_root', out)
        self.assertIn('LABEL=root / ext4 defaults 0 1', out)

    def test_dot(self):
        status, out, _ = self.plan('--format', 'dot')
        self.assertEqual(0, status)
        self.assertTrue(out.startswith('digraph block_device {'))
        self.assertIn('"root" -> "mkfs_root";', out)

    def test_too_small_fails_with_the_numbers(self):
        status, _, err = self.plan(size='9MiB')
        self.assertEqual(2, status)
        self.assertIn('[1].partitioning.partitions[0]: partition BSP needs 8 MiB '
                      'but only 7.98 MiB is left (disk 9 MiB)', err)
