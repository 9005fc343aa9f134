"""Real images on real loop devices, checked with independent tools."""
import os
import subprocess
import time


from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.compat import compat_text
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import ReadBack
from diskimage_builder.block_device.tests.support.layouts import GPT
from diskimage_builder.block_device.tests.support.layouts import MBR

MiB = 1 << 20


class TestGptImage(base.FunctionalTestCase):

    def test_build_write_teardown_and_read_back(self):
        build = self.useFixture(Build(GPT, image_size='2GiB'))
        build.phase('init')
        # In config order, swap's "none" included (diskimage-builder's
        # answer).
        self.assertEqual('/boot|none|/home|/', build.getval('mount-points'))
        self.assertEqual('BOOT', build.getval('boot-label'))
        build.phase('create')
        device = build.getval('image-block-device')
        self.assertTrue(device.startswith('/dev/loop'), device)
        self.assertEqual(''.join(
            ' [%s]=%s ' % (name, device + suffix) for name, suffix in (
                ('image0', ''), ('BSP', 'p1'), ('boot', 'p2'),
                ('swap', 'p3'), ('home', 'p4'), ('root', 'p5'))),
            build.getval('image-block-devices'))
        for sub in ('', '/boot', '/home'):
            target = build.mount_base + sub
            self.assertEqual(0, base.run(['findmnt', target],
                                         check=False).returncode, target)
            with open(target + '/marker', 'w') as out:
                out.write('written at %s\n' % (sub or '/'))
        build.phase('writefstab')
        with open(build.build_dir + '/built/etc/fstab') as src:
            fstab = src.read().splitlines()
        self.assertEqual(4, len(fstab))
        # In the order of the mount points as strings, swap last.
        self.assertEqual('LABEL=cloudimg-rootfs / ext4 defaults 0 2',
                         fstab[0])
        self.assertEqual('PARTUUID=1a2b3c4d-0000-4000-8000-00000000b007 '
                         '/boot ext2 defaults 0 2', fstab[1])
        self.assertRegex(fstab[2], r'^UUID=[0-9a-f-]{36} /home xfs '
                                   r'rw,nodev 0 2$')
        self.assertEqual('LABEL=mkfs_swap none swap sw 0 0', fstab[3])
        build.phase('umount')
        build.phase('umount')
        self.assertEqual([], held.leftovers(build.root))
        build.phase('cleanup')
        build.phase('cleanup')
        self.assertFalse(os.path.exists(build.build_dir + '/states/'
                                        'block-device'))
        self._check_table(build.image())
        self._check_contents(build.image(), fstab)

    def _check_table(self, image):
        table = base.sfdisk_json(image)
        self.assertEqual('gpt', table['label'])
        self.assertEqual('6C0E9A1E-64E5-4A6A-8BD4-1B3F0B0A9C01', table['id'])
        parts = table['partitions']
        self.assertEqual([2048, 18432, 280576, 346112],
                         [p['start'] for p in parts[:4]])
        self.assertEqual([16384, 262144, 65536], [p['size'] for p in
                                                  parts[:3]])
        for part in parts:
            self.assertEqual(0, part['start'] % 2048, part)
        self.assertEqual('21686148-6449-6E6F-744E-656564454649',
                         parts[0]['type'])
        self.assertEqual('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
                         parts[2]['type'])
        self.assertEqual('933AC7E1-2EB4-4F13-B844-0E14E2AEF915',
                         parts[3]['type'])
        self.assertEqual('boot-part', parts[1]['name'])
        self.assertEqual('1A2B3C4D-0000-4000-8000-00000000B007',
                         parts[1]['uuid'])
        # flags: [boot] means nothing on GPT (as in diskimage-builder).
        self.assertEqual('GUID:60', parts[1]['attrs'])
        self.assertEqual(['BSP', 'boot-part', 'swap', 'home', 'root'],
                         [p['name'] for p in parts])
        verify = base.run(['sfdisk', '--verify', image])
        self.assertIn('No errors detected', verify.stdout)

    def _check_contents(self, image, fstab):
        back = self.useFixture(ReadBack(image))
        root = back.blkid(back.partition(5))
        self.assertEqual(('ext4', 'cloudimg-rootfs'),
                         (root['TYPE'], root['LABEL']))
        home = back.blkid(back.partition(4))
        self.assertEqual('xfs', home['TYPE'])
        self.assertIn('UUID=%s ' % home['UUID'], fstab[2])
        self.assertEqual('swap', back.blkid(back.partition(3))['TYPE'])
        for number, fstype, text in ((5, 'ext4', '/'), (2, 'ext2', '/boot'),
                                     (4, 'xfs', '/home')):
            target = back.mount(back.partition(number), fstype)
            with open(target + '/marker') as src:
                self.assertEqual('written at %s\n' % text, src.read())


class TestMbrImage(base.FunctionalTestCase):

    def test_primaries_logicals_and_five_filesystems(self):
        build = self.useFixture(Build(MBR, image_size='2GiB'))
        build.phase('init')
        build.phase('create')
        self.assertEqual('/boot|/|/var|/srv|/var/tmp',
                         build.getval('mount-points'))
        with open(build.mount_base + '/var/tmp/deep', 'w') as out:
            out.write('inside /var/tmp\n')
        build.phase('writefstab')
        build.phase('umount')
        build.phase('cleanup')
        self.assertEqual([], held.leftovers(build.root))
        table = base.sfdisk_json(build.image())
        self.assertEqual('dos', table['label'])
        self.assertEqual('0xc0ffee01', table['id'])
        parts = table['partitions']
        # The extended partition is type 0x0f, as diskimage-builder's.
        self.assertEqual(['83', '83', 'f', '83', '83', '83'],
                         [p['type'] for p in parts])
        self.assertTrue(parts[0].get('bootable'))
        names = [p['node'][-2:].lstrip('w') for p in parts]
        self.assertEqual(['1', '2', '3', '5', '6', '7'], names)
        for part in parts:
            if part['type'] != 'f':
                self.assertEqual(0, part['start'] % 2048, part)
        verify = base.run(['sfdisk', '--verify', build.image()])
        self.assertIn('No errors detected', verify.stdout)
        back = self.useFixture(ReadBack(build.image()))
        types = [back.blkid(back.partition(n))['TYPE']
                 for n in (1, 2, 5, 6, 7)]
        self.assertEqual(['ext3', 'ext4', 'xfs', 'btrfs', 'ext2'], types)
        target = back.mount(back.partition(7), 'ext2')
        with open(target + '/deep') as src:
            self.assertEqual('inside /var/tmp\n', src.read())


class Test4kSectors(base.FunctionalTestCase):

    def test_gpt_on_4096_byte_sectors(self):
        build = self.useFixture(Build("""
        - local_loop: {name: image0, block_size: 4096}
        - partitioning:
            base: image0
            label: gpt
            partitions:
              - {name: root, size: 100%,
                 mkfs: {type: ext4, mount: {mount_point: /}}}
        """, image_size='256MiB'))
        build.phase('init')
        build.phase('create')
        device = build.getval('image-block-device')
        with open('/sys/block/%s/queue/logical_block_size'
                  % os.path.basename(device)) as src:
            self.assertEqual('4096', src.read().strip())
        build.phase('umount')
        build.phase('cleanup')
        back = self.useFixture(ReadBack(build.image(), sector_size=4096))
        table = base.sfdisk_json(back.device)
        self.assertEqual(4096, table['sectorsize'])
        self.assertEqual(256, table['partitions'][0]['start'])
        self.assertEqual('ext4', back.blkid(back.partition(1))['TYPE'])


class TestFailures(base.FunctionalTestCase):

    def test_failed_create_unwinds_everything(self):
        build = self.useFixture(Build("""
        - local_loop: {name: image0}
        - partitioning:
            base: image0
            label: gpt
            partitions:
              - {name: root, size: 50%,
                 mkfs: {type: ext4, mount: {mount_point: /}}}
              - {name: data, size: 100%,
                 mkfs: {type: xfs, opts: --no-such-option,
                        mount: {mount_point: /data}}}
        """, image_size='1GiB'))
        build.phase('init')
        proc = build.phase('create', check=False)
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertIn('mkfs.xfs', proc.stderr.splitlines()[-1])
        self.assertNotIn('Traceback', proc.stderr)
        self.assertEqual([], held.leftovers(build.root))
        self.assertFalse(os.path.exists(build.image()))
        # the state is kept for inspection, and holds nothing
        self.assertTrue(os.path.exists(build.build_dir + '/states/'
                                       'block-device/state.json'))
        build.phase('cleanup')
        build.phase('cleanup')

    def test_busy_mount_names_who_holds_it(self):
        build = self.useFixture(Build("""
        - local_loop: {name: image0}
        - mkfs: {name: root, base: image0, type: ext4,
                 mount: {mount_point: /}}
        """, image_size='64MiB'))
        build.phase('init')
        build.phase('create')
        holder = subprocess.Popen(['sleep', '60'], cwd=build.mount_base)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        start = time.monotonic()
        proc = build.phase('umount', check=False)
        took = time.monotonic() - start
        self.assertEqual(1, proc.returncode)
        self.assertIn('cannot unmount %s' % build.mount_base, proc.stderr)
        self.assertIn('sleep', proc.stderr)
        self.assertLess(took, 10)
        holder.kill()
        holder.wait()
        build.phase('umount')
        build.phase('cleanup')
        self.assertEqual([], held.leftovers(build.root))

    def test_create_twice_is_refused_until_cleanup(self):
        build = self.useFixture(Build("""
        - local_loop: {name: image0}
        """, image_size='16MiB'))
        build.phase('init')
        build.phase('create')
        proc = build.phase('create', check=False)
        self.assertEqual(3, proc.returncode)
        self.assertIn('run dib-block-device cleanup first', proc.stderr)
        build.phase('delete')
        self.assertFalse(os.path.exists(build.image()))
        self.assertEqual([], held.leftovers(build.root))


class TestCommandList(base.FunctionalTestCase):

    def test_gpt_compat_runs_exactly_these_commands(self):
        build = self.useFixture(Build(compat_text(
            'block-device-gpt--default.yaml'), image_size='1GiB'))
        build.phase('init')
        build.phase('create')
        device = build.getval('image-block-device')
        build.phase('umount')
        build.phase('cleanup')
        commands = [' '.join(argv).replace(device, 'LOOP')
                    .replace(build.root, 'ROOT') for argv in build.commands()]
        expected = [
            'losetup --find --show --partscan ROOT/images/image0.raw',
            'mkfs.ext4 -F -q -E lazy_itable_init=1,lazy_journal_init=1,'
            'nodiscard -L cloudimg-rootfs LOOPp2',
            'blkid -p -o export LOOPp2',
            'mount -t ext4 LOOPp2 ROOT/build/mnt',
            'sync --file-system ROOT/build/mnt',
            'fstrim ROOT/build/mnt',
            'umount ROOT/build/mnt',
            'losetup --detach LOOP',
        ]
        # partx runs only where the kernel cannot parse GPT itself.
        self.assertEqual(expected, [c for c in commands
                                    if c != 'partx --update --nr 1:2 LOOP'])
