"""create does what plan said: partition offsets and sizes, and the
commands it runs."""
import os

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.layouts import GPT
from diskimage_builder.block_device.tests.support.layouts import MBR


class TestPlanVsReality(base.FunctionalTestCase):

    def check(self, config, size):
        build = self.useFixture(Build(config, image_size=size))
        plan = build.create_as_planned()
        build.phase('umount')
        build.phase('cleanup')
        planned = sorted(
            (n['planned']['number'], n['planned']['first_lba'],
             n['planned']['last_lba'] - n['planned']['first_lba'] + 1)
            for n in plan['nodes'] if n['kind'] == 'partition')
        table = base.sfdisk_json(build.image())
        real = sorted(
            (int(p['node'].rsplit('raw', 1)[1]), p['start'], p['size'])
            for p in table['partitions'] if p['type'] not in ('5', 'f'))
        self.assertEqual(planned, real)
        image_node = [n for n in plan['nodes'] if n['name'] == 'image0'][0]
        self.assertEqual(image_node['planned']['size'],
                         os.stat(build.image()).st_size)

    def test_gpt(self):
        self.check(GPT, '2GiB')

    def test_mbr_with_logical_partitions(self):
        self.check(MBR, '2GiB')
