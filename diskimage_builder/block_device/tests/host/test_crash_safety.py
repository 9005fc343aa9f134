"""Whatever kills a phase, teardown from the state file alone releases
everything; parallel builds never touch each other."""
import json
import os
import signal
import subprocess
import sys


from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build


GPT = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: BSP
        type: 'EF02'
        size: 8MiB
      - name: boot
        size: 64MiB
        mkfs: {type: ext2, mount: {mount_point: /boot, fstab: {}}}
      - name: root
        flags: [ boot ]
        size: 100%
        mkfs:
          type: ext4
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
"""


def claims_of(build):
    folder = os.environ['DIB_BD_CLAIMS_DIR']
    owner = os.path.realpath(build.state_folder)
    held = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name)) as src:
            if src.read() == owner:
                held.append(name)
    return held


class TestFaultInjection(base.FunctionalTestCase):

    def test_kill_at_every_command_then_cleanup(self):
        build = self.useFixture(Build(GPT, image_size='512MiB'))
        build.phase('init')
        build.phase('create')
        count = len(build.commands())
        build.phase('delete')
        self.assertGreaterEqual(count, 7)
        recovered = 0
        points = [(when, n) for n in range(1, count + 1)
                  for when in ('before', 'after')]
        for when, number in points:
            build.phase('init')
            proc = build.phase('create', check=False, env={
                'DIB_BD_FAULT_INJECT': '%s:%d' % (when, number)})
            self.assertEqual(-signal.SIGKILL, proc.returncode,
                             (when, number, proc.stderr))
            build.phase('cleanup')
            self.assertEqual([], held.leftovers(build.root), (when, number))
            self.assertFalse(os.path.exists(build.build_dir +
                                            '/states/block-device'))
            self.assertEqual([], claims_of(build))
            build.phase('cleanup')
            recovered += 1
            if os.path.exists(build.image()):
                os.unlink(build.image())
        print('%d of %d injection points recovered'
              % (recovered, len(points)))
        self.assertEqual(len(points), recovered)


class TestDamagedState(base.FunctionalTestCase):

    def test_cleanup_from_system(self):
        build = self.useFixture(Build(GPT, image_size='512MiB'))
        build.phase('init')
        build.phase('create')
        with open(build.mount_base + '/boot/kept', 'w') as out:
            out.write('x')
        state = os.path.join(build.state_folder, 'state.json')
        with open(state, 'w') as out:
            out.write('{"version": 1, "jour')
        proc = build.phase('cleanup', check=False)
        self.assertEqual(3, proc.returncode)
        self.assertIn('is damaged', proc.stderr)
        self.assertIn('cleanup --from-system', proc.stderr)
        self.assertNotEqual([], held.leftovers(build.root))
        build.phase('cleanup', '--from-system')
        self.assertEqual([], held.leftovers(build.root))
        self.assertFalse(os.path.exists(build.build_dir +
                                        '/states/block-device'))
        self.assertEqual([], claims_of(build))
        self.assertTrue(os.path.exists(build.image()))

    def test_old_format(self):
        build = self.useFixture(Build(GPT, image_size='512MiB'))
        build.phase('init')
        build.phase('create')
        state = os.path.join(build.state_folder, 'state.json')
        with open(state) as src:
            data = json.load(src)
        data['version'] = 0
        with open(state, 'w') as out:
            json.dump(data, out)
        proc = build.phase('umount', check=False)
        self.assertEqual(3, proc.returncode)
        self.assertIn('format 0, this tool reads format 2', proc.stderr)
        build.phase('cleanup', '--from-system')
        self.assertEqual([], held.leftovers(build.root))


class TestParallelBuilds(base.FunctionalTestCase):

    def test_same_config_in_four_build_folders(self):
        builds = [self.useFixture(Build(GPT, image_size='512MiB'))
                  for _ in range(4)]
        for build in builds:
            build.phase('init')
        procs = [subprocess.Popen(
            [sys.executable, '-m', 'diskimage_builder.block_device',
             '--params', b.params_path, 'create'], cwd=base.REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for b in builds]
        for proc in procs:
            _, err = proc.communicate()
            self.assertEqual(0, proc.returncode, err)
        devices = {b.getval('image-block-device') for b in builds}
        self.assertEqual(4, len(devices))
        for build in builds:
            with open(build.mount_base + '/boot/who', 'w') as out:
                out.write(build.root)
        for build in builds:
            with open(build.mount_base + '/boot/who') as src:
                self.assertEqual(build.root, src.read())
            build.phase('umount')
            build.phase('cleanup')
            self.assertEqual([], held.leftovers(build.root))
        print('4 of 4 parallel builds held')

    def test_a_shared_image_path_is_refused_naming_the_holder(self):
        first = self.useFixture(Build(GPT, image_size='512MiB'))
        second = self.useFixture(Build(
            GPT, image_size='512MiB', **{'image-dir': first.image_dir}))
        first.phase('init')
        second.phase('init')
        first.phase('create')
        proc = second.phase('create', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertIn('image %s is in use by the build whose state is %s'
                      % (first.image(), os.path.realpath(
                          first.state_folder)),
                      proc.stderr)
        # the first build is untouched
        self.assertEqual(0, base.run(['findmnt', first.mount_base],
                                     check=False).returncode)
        second.phase('cleanup')
        first.phase('umount')
        first.phase('cleanup')
        self.assertEqual([], held.leftovers(first.root))
        # once the first build is cleaned up, the name is free again
        second.phase('init')
        second.phase('create')
        second.phase('delete')
