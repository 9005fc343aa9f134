"""Where partitions go, against diskimage-builder 3.43.0's own code: for
random layouts (MBR with primary and logical partitions, GPT, fixed sizes
in both size grammars, percentages, disk sizes that are not whole MiB as
disk-image-create's 64 KiB rounding gives), upstream's Partitioning
plugin writes its table into an image file (its sgdisk run on the file;
support/dib/upstream_tables.py) and sfdisk reads it back; this package's
``plan`` of the same config at the same size must give the same starts,
sizes and types (and GPT names).

Where this package refuses a layout (larger than the disk), upstream must
have failed too or written a partition past the disk's end: the deviation
README.rst lists.
"""
import json
import os
import random

import fixtures
import testtools
import yaml

from diskimage_builder.block_device.tests.support import harness
from diskimage_builder.block_device.tests.support.dib import venvs

DRIVER = os.path.join(os.path.dirname(venvs.__file__), 'upstream_tables.py')
MIB = 1 << 20
SECTOR = 512
LAYOUTS = 40
# As strings: diskimage-builder takes no YAML integer (a deviation the
# README lists).
SIZES = (str(8 << 20), str(100 * 10 ** 6), str(550 << 20), '123456789',
         str(3 << 20), '100M', '1G', '300MiB', '8MiB')


def layouts(seed):
    """(disk bytes, label, sizes, number of primaries) of random layouts."""
    rnd = random.Random(seed)
    for _ in range(LAYOUTS):
        disk = rnd.choice([2 << 30, (2 << 30) + 65536 * rnd.randint(1, 15),
                           1 << 30, 3 * (1 << 30) + 512 * rnd.randint(1,
                                                                      3000)])
        count = rnd.randint(1, 6)
        sizes = ['%d%%' % rnd.randint(1, 60) if rnd.random() < 0.4 else
                 rnd.choice(SIZES) for _ in range(count)]
        if rnd.random() < 0.5:
            sizes[-1] = '100%'
        label = rnd.choice(['mbr', 'gpt'])
        primaries = rnd.randint(0, min(3, count)) if label == 'mbr' else 0
        yield disk, label, sizes, primaries


def partitioning(label, sizes, primaries):
    parts = []
    for index, size in enumerate(sizes):
        part = {'name': 'part %d' % index if label == 'gpt' else
                'p%d' % index, 'size': size}
        if index < primaries:
            part['flags'] = ['primary']
        parts.append(part)
    return {'base': 'image0', 'label': label, 'partitions': parts}


class TestSameTablesAsDiskimageBuilder(testtools.TestCase):

    def setUp(self):
        super().setUp()
        try:
            self.upstream = venvs.require('upstream')
        except venvs.VenvError as err:
            self.fail(str(err))
        self.work = self.useFixture(fixtures.TempDir()).path

    def upstream_table(self, disk, config):
        image = os.path.join(self.work, 'upstream.raw')
        with open(image, 'wb') as out:
            out.truncate(disk)
        proc = harness.run([self.upstream.python, DRIVER, json.dumps({
            'image': image, 'disk_size': disk, 'config': config})],
            check=False, cwd=self.work)
        if proc.returncode:
            return None
        table = harness.sfdisk_json(image)
        return [(int(p['start']), int(p['size']), p['type'].lower(),
                 p.get('name')) for p in table.get('partitions', [])
                if p['type'].lower() not in ('5', 'f', '85')]

    def our_plan(self, disk, config):
        path = os.path.join(self.work, 'config.yaml')
        with open(path, 'w') as out:
            yaml.safe_dump([{'local_loop': {'name': 'image0'}},
                            {'partitioning': config}], out)
        proc = harness.run([*harness.PYTHON_M, 'plan', '--format', 'json',
                            '--config', path, '--size', str(disk)],
                           check=False, cwd=self.work)
        if proc.returncode:
            return None, proc.stderr
        plan = json.loads(proc.stdout)
        table = [n for n in plan['nodes'] if n['kind'] == 'table'][0]
        return [(p['first_lba'], p['size_lba'], p['name'])
                for p in table['planned']['partitions']], None

    def test_random_layouts(self):
        problems = []
        for disk, label, sizes, primaries in layouts(20261129):
            config = partitioning(label, sizes, primaries)
            theirs = self.upstream_table(disk, json.loads(json.dumps(config)))
            ours, refusal = self.our_plan(disk, config)
            where = '%s %d %s primaries=%d' % (label, disk, sizes, primaries)
            if ours is None:
                past_end = theirs and any(
                    start + size > disk // SECTOR for start, size, _, _ in
                    theirs)
                if theirs is not None and not past_end:
                    problems.append('%s: refused here (%s), upstream wrote '
                                    '%s' % (where, refusal.strip(), theirs))
                continue
            if theirs is None:
                problems.append('%s: upstream failed, here %s'
                                % (where, ours))
                continue
            got = [(start, size) for start, size, _ in ours]
            want = [(start, size) for start, size, _, _ in theirs]
            if got != want:
                problems.append('%s: here %s, upstream %s' % (where, got,
                                                              want))
            if label == 'gpt':
                names = [name for _, _, name in ours]
                if names != [name for _, _, _, name in theirs]:
                    problems.append('%s: names differ' % where)
        self.assertEqual([], problems)
