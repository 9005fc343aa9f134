"""The mdraid plugin with a fake runner: commands, sizes, errors."""
import os

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import config
from diskimage_builder.block_device import context
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import mdraid
from diskimage_builder.block_device.level1 import mdraidkernel
from diskimage_builder.block_device.tests.support.compat import PARAMS
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import KEY
from diskimage_builder.block_device.tests.support.fakes import LUKS_UUID
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import \
    RecordingRunner
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import \
    ValidationCases
from diskimage_builder.block_device.tests.support.fakes import blkid
from diskimage_builder.block_device.tests.support.fakes import \
    unmount_commands

MD_UUID = '532bc60f:0343e30a:5b11fd8e:fea33707'
FS_UUID = '0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10'
MIB = 1 << 20

RAID1 = """
- local_loop: {name: image0, size: 64MiB}
- local_loop: {name: image1, size: 64MiB}
- mdraid:
    name: root_md
    base: [image0, image1]
    level: 1
    mkfs:
      name: mkfs_root
      type: ext4
      mount: {mount_point: /, fstab: {}}
"""

STACK = """
- local_loop: {name: image0, size: 64MiB}
- local_loop: {name: image1, size: 64MiB}
- mdraid:
    name: root_md
    base: [image0, image1]
    level: 1
    crypt:
      name: cryptroot
      passphrase-env: DIB_TEST_LUKS_KEY
      pbkdf: {type: pbkdf2, iterations: 1000}
      mkfs:
        name: mkfs_root
        type: ext4
        opts: -E bogus
        mount: {mount_point: /, fstab: {}}
"""


def detail(name='root_md', metadata='1.2'):
    return ('MD_LEVEL=raid1\nMD_DEVICES=2\nMD_METADATA=%s\nMD_UUID=%s\n'
            'MD_DEVNAME=%s\nMD_NAME=any:%s\n' % (metadata, MD_UUID, name,
                                                 name))


class TestArgv(TestCase):

    def test_create_table(self):
        members = ['/dev/a', '/dev/b', '/dev/c', '/dev/d']
        head = ['mdadm', '--create', '/dev/md/r', '--config=none', '--run']
        table = [
            ({'level': 1}, members[:2],
             head + ['--level=1', '--raid-devices=2', '--metadata=1.2',
                     '--name=r', '--homehost=any', '--assume-clean']
             + members[:2]),
            ({'level': 1, 'assume-clean': False, 'metadata': 1.0,
              'homehost': 'builder'}, members[:2],
             head + ['--level=1', '--raid-devices=2', '--metadata=1.0',
                     '--name=r', '--homehost=builder'] + members[:2]),
            ({'level': 5, 'spares': 1, 'chunk': '64KiB'}, members,
             head + ['--level=5', '--raid-devices=3', '--spare-devices=1',
                     '--metadata=1.2', '--name=r', '--homehost=any',
                     '--chunk=64K'] + members),
            ({'level': 6, 'assume-clean': True, 'uuid': MD_UUID}, members,
             head + ['--level=6', '--raid-devices=4', '--metadata=1.2',
                     '--name=r', '--homehost=any', '--uuid=' + MD_UUID,
                     '--assume-clean'] + members),
            ({'level': 10}, members[:2],
             head + ['--level=10', '--raid-devices=2', '--metadata=1.2',
                     '--name=r', '--homehost=any', '--assume-clean']
             + members[:2]),
            ({'level': 0}, members[:3],
             head + ['--level=0', '--raid-devices=3', '--metadata=1.2',
                     '--name=r', '--homehost=any'] + members[:3]),
            ({'level': 'linear'}, members[:2],
             head + ['--level=linear', '--raid-devices=2', '--metadata=1.2',
                     '--name=r', '--homehost=any'] + members[:2]),
        ]
        for options, devices, argv in table:
            self.assertEqual(argv, mdraid.create_argv('/dev/md/r', 'r',
                                                      options, devices))

    def test_mdadm_conf_line(self):
        info = mdraidkernel.parse_export(detail('r'))
        self.assertEqual('ARRAY /dev/md/r metadata=1.2 UUID=%s name=any:r'
                         % MD_UUID, mdraid.mdadm_conf_line('r', info, 0))
        self.assertTrue(mdraid.mdadm_conf_line('r', info, 1).endswith(
            ' spares=1'))


class TestSizes(TestCase):

    def size(self, level, members, member_size=200 * MIB, spares=0):
        text = ''.join('- local_loop: {name: i%d, size: %d}\n'
                       % (n, member_size) for n in range(members))
        text += ('- mdraid: {name: r, level: %s, spares: %d, base: [%s]}\n'
                 % (level, spares, ', '.join('i%d' % n
                                             for n in range(members))))
        nodes = config.build(yaml.safe_load(text), PARAMS)
        return blockdevice.plan(PARAMS, nodes)['r'].to_json()

    def test_a_lower_bound_of_what_mdadm_gives(self):
        # mdadm 4.2 gave 199 MiB of data per 200 MiB member (VM tier)
        data = 198 * MIB
        self.assertEqual(data, self.size(1, 2)['size'])
        self.assertEqual(2 * data, self.size(5, 3)['size'])
        self.assertEqual(2 * data, self.size(6, 4)['size'])
        self.assertEqual(2 * data, self.size(10, 4)['size'])
        self.assertEqual(3 * data, self.size(0, 3)['size'])
        self.assertEqual(2 * data, self.size("linear", 2)['size'])
        self.assertEqual(data, self.size(1, 3, spares=1)['size'])

    def test_zeroed_and_sector_size_carry_over(self):
        planned = self.size(1, 2)
        self.assertTrue(planned['zeroed'])
        self.assertEqual(512, planned['sector_size'])

    def test_large_members_keep_headroom(self):
        self.assertEqual(mdraid.data_bytes(1 << 40, '1.2'),
                         (1 << 40) - 129 * MIB)
        self.assertEqual(mdraid.data_bytes(1 << 40, '1.0'),
                         (1 << 40) - MIB)


class CreateCase(TestCase):

    CONFIG = RAID1

    def setUp(self):
        super().setUp()
        self.build = self.useFixture(Build(self.CONFIG, devices=False))
        self.useFixture(fixtures.EnvironmentVariable('DIB_TEST_LUKS_KEY',
                                                     KEY))
        self.host = self.useFixture(FakeHostFixture()).host
        self.kernel = FakeKernel(self.host)
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        self.params = config.load_params(self.build.params_path)
        blockdevice.init(self.params)
        self.images = [os.path.join(self.build.image_dir, 'image%d.raw' % n)
                       for n in (0, 1)]
        self.loops = [self.dev('loop1'), self.dev('loop2')]
        self.md = self.dev('md/root_md')
        self.target = self.build.mount_base

    def dev(self, name):
        return os.path.join(self.host.dev_root, name)

    def head(self):
        return [
            (['losetup', '--find', '--show', '--partscan', self.images[0]],
             self.loops[0] + '\n'),
            (['losetup', '--find', '--show', '--partscan', self.images[1]],
             self.loops[1] + '\n'),
            (['mdadm', '--create', self.md, '--config=none',
              '--run', '--level=1', '--raid-devices=2', '--metadata=1.2',
              '--name=root_md', '--homehost=any', '--assume-clean',
              *self.loops], ''),
            (['mdadm', '--detail', '--export', self.md], detail()),
        ]

    def create(self, runner):
        blockdevice.create(self.params, runner)

    def runner(self, expected, recording=False):
        if recording:
            return RecordingRunner(expected, self.kernel)
        return FakeRunner(expected, self.kernel.effects())

    def state(self):
        return state_mod.State.load(
            state_mod.state_dir(self.params['build-dir']))


class TestCreate(CreateCase):

    def test_raid1_golden_commands_and_results(self):
        md = self.dev('md127')
        runner = self.runner(self.head() + [
            (['mkfs.ext4', '-F', '-q', '-E',
              'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '-L',
              'cloudimg-rootfs', md], ''),
            (['blkid', '-p', '-o', 'export', md],
             blkid(md, 'ext4', 'cloudimg-rootfs', FS_UUID)),
            (['mount', '-t', 'ext4', md, self.target], ''),
        ], recording=True)
        self.create(runner)
        runner.assert_done()
        for argv, _, env in runner.calls:
            if argv[0] == 'mdadm':
                self.assertEqual({'MDADM_NO_UDEV': '1'}, env)
        line = ('ARRAY /dev/md/root_md metadata=1.2 UUID=%s '
                'name=any:root_md' % MD_UUID)
        state = self.state()
        self.assertEqual({
            'device': md, 'link': self.md, 'uuid': MD_UUID,
            'md_name': 'any:root_md', 'level': '1',
            'members': self.loops, 'mdadm.conf': line,
        }, state.results('root_md'))
        self.assertEqual(
            ('md-array', {'name': 'root_md', 'members': ['loop1', 'loop2'],
                          'devnums': ['7:1', '7:2'], 'uuid': MD_UUID,
                          'ids': [{'devnum': '7:1'}, {'devnum': '7:2'}]}),
            [(e['kind'], e['args']) for e in state.journal
             if e['kind'] != 'claim'][4])
        self.assertEqual(
            [('image', self.images[0]), ('image', self.images[1]),
             ('md', 'root_md')],
            [(e['args']['claim'], e['args']['name']) for e in state.journal
             if e['kind'] == 'claim'])
        blockdevice.write_fstab(self.params)
        with open(os.path.join(self.build.build_dir, 'built', 'etc',
                               'mdadm', 'mdadm.conf')) as src:
            self.assertEqual(line + '\n', src.read())

    def test_umount_stops_the_array_then_detaches(self):
        md = self.dev('md127')
        self.create(self.runner(self.head() + [
            (['mkfs.ext4', '-F', '-q', '-E',
              'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '-L',
              'cloudimg-rootfs', md], ''),
            (['blkid', '-p', '-o', 'export', md],
             blkid(md, 'ext4', 'cloudimg-rootfs', FS_UUID)),
            (['mount', '-t', 'ext4', md, self.target], '')]))
        runner = self.runner(unmount_commands(self.target) + [
            ['mdadm', '--stop', self.dev('md127')],
            ['losetup', '--detach', self.loops[1]],
            ['losetup', '--detach', self.loops[0]]])
        teardown.teardown(self.params, runner, 'umount')
        runner.assert_done()
        self.assertEqual(['claim'] * 3 + ['image-file', 'image-file'],
                         [e['kind'] for e in self.state().journal])

    def test_preflight_refuses_a_running_array_of_that_name(self):
        self.host.add_md('md5', '9:5')
        runner = FakeRunner([
            (['mdadm', '--detail', '--scan', '--config=none'],
             'ARRAY /dev/md/other metadata=1.2 name=h:root_md UUID=%s\n'
             % MD_UUID)])
        err = self.assertRaises(UsageError, blockdevice.create, self.params,
                                runner)
        self.assertIn('[2].mdraid: an md array named root_md is already '
                      'running on this host', str(err))
        self.assertFalse(os.path.exists(self.images[0]))

    def test_preflight_passes_other_names(self):
        self.host.add_md('md5', '9:5')
        runner = FakeRunner([
            (['mdadm', '--detail', '--scan', '--config=none'],
             'ARRAY /dev/md/other metadata=1.2 name=h:other UUID=%s\n'
             % MD_UUID)])
        nodes = blockdevice.load_nodes(state_mod.load_build(self.params))
        node = [n for n in nodes if n.kind == 'mdraid'][0]
        node.check(context.CheckContext(runner, self.params, nodes, {}))
        runner.assert_done()


class TestDeepStack(CreateCase):
    """RAID1 + LUKS + ext4, and a mkfs failure that unwinds it all."""

    CONFIG = STACK

    def test_bad_mkfs_option_unwinds_everything(self):
        mapped = self.dev('mapper/cryptroot')
        md = self.dev('md127')
        runner = self.runner(self.head() + [
            (['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks2',
              '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000',
              '--key-file', '-', md], ''),
            (['cryptsetup', 'luksUUID', md], LUKS_UUID),
            (['cryptsetup', 'open', '--type', 'luks2', '--key-file', '-',
              md, 'cryptroot'], ''),
            (['mkfs.ext4', '-F', '-q', '-L', 'cloudimg-rootfs', '-E',
              'bogus', mapped], 'Bad option(s) specified: bogus', 1),
            ['cryptsetup', 'close', 'cryptroot'],
            ['mdadm', '--stop', self.dev('md127')],
            ['losetup', '--detach', self.loops[1]],
            ['losetup', '--detach', self.loops[0]],
        ], recording=True)
        err = self.assertRaises(Exception, self.create, runner)
        self.assertIn('Bad option(s) specified: bogus', str(err))
        runner.assert_done()
        self.assertEqual([], self.state().journal)
        self.assertEqual([], self.host.md_arrays())
        self.assertEqual({}, self.host.dm_devices())
        for image in self.images:
            self.assertFalse(os.path.exists(image))


class TestRelease(TestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        for loop, minor in (('loop1', 1), ('loop2', 2)):
            self.host.add_disk(loop, '7:%d' % minor)
            self.host.add_partition(loop, 1, '259:%d' % minor)
        self.host.add_disk('sda', '8:0')
        self.host.add_partition('sda', 1, '8:1')
        self.host.add_md('md9', '9:9', state='clear')

    def release(self, runner, **args):
        resources.release(resources.Scope(runner), {
            'kind': 'md-array', 'node': 'r', 'plugin': 'mdraid',
            'args': dict({'name': 'r'}, **args)})

    def test_arrays_found_by_member_not_by_name(self):
        self.host.add_md('md127', '9:127', over=['loop1p1', 'loop2p1'])
        self.host.add_md('md126', '9:126', over=['sda1'])
        self.assertEqual(['md127'],
                         mdraidkernel.arrays_over(self.host, ['loop2p1']))
        self.assertEqual([], mdraidkernel.arrays_over(self.host, ['loop3p1']))
        self.assertEqual(['md126', 'md127'],
                         mdraidkernel.running_arrays(self.host))

    def test_a_recorded_uuid_must_match(self):
        self.host.add_md('md127', '9:127', over=['loop1p1'],
                         uuid='532bc60f-0343-e30a-5b11-fd8efea33707')
        self.host.add_md('md126', '9:126', over=['loop2p1'],
                         uuid='11111111-0343-e30a-5b11-fd8efea33707')
        members = ['loop1p1', 'loop2p1']
        self.assertEqual(['md127'],
                         mdraidkernel.arrays_over(self.host, members, MD_UUID))
        self.assertEqual(['md126', 'md127'],
                         mdraidkernel.arrays_over(self.host, members))

    def test_renumbered_partitions_of_this_builds_images_are_ours(self):
        # A udev re-reading the table written through the loop device
        # gives its partitions new numbers: the image file behind them
        # and the partition number say whose they are.
        folder = self.useFixture(fixtures.TempDir()).path
        image = os.path.join(folder, 'image3.raw')
        with open(image, 'w'):
            pass
        self.host.add_loop('loop3', '7:3', image, partitions=(1,))
        info = os.stat(image)
        ours = {'file': [info.st_dev, info.st_ino], 'partition': 1}
        self.host.add_md('md127', '9:127', over=['loop3p1'])
        runner = FakeRunner([['mdadm', '--stop', os.path.join(
            self.host.dev_root, 'md127')]],
            effects=FakeKernel(self.host).effects())
        self.release(runner, members=['loop3p1'], devnums=['259:2'],
                     ids=[ours])
        runner.assert_done()
        # The same array over another file's partition: left alone.
        self.host.add_md('md127', '9:127', over=['loop3p1'])
        err = self.assertRaises(resources.NotOurs, self.release,
                                FakeRunner([]), members=['loop3p1'],
                                devnums=['259:49'],
                                ids=[dict(ours, file=[1, 2])])
        self.assertIn('no longer the device this build gave it', str(err))

    def test_release_is_a_no_op_when_stopped(self):
        self.host.add_md('md126', '9:126', over=['sda1'])
        runner = FakeRunner([])
        self.release(runner, members=['loop1p1'], devnums=['259:1'])
        runner.assert_done()

    def test_an_array_on_reused_members_is_left_alone(self):
        # loop1p1 now has another number than the one journaled: the
        # loop device was detached and its name reused by someone else.
        self.host.add_md('md127', '9:127', over=['loop1p1'])
        err = self.assertRaises(resources.NotOurs, self.release,
                                FakeRunner([]), members=['loop1p1'],
                                devnums=['259:77'])
        self.assertIn('no longer the device this build gave it', str(err))
        self.assertEqual(['md127', 'md9'], self.host.md_arrays())

    def test_arrays_udev_brings_back_are_stopped_too(self):
        self.host.add_md('md127', '9:127', over=['loop1p1', 'loop2p1'])
        self.host.write('run/udev/control', '')
        self.useFixture(fixtures.MonkeyPatch(
            'shutil.which', lambda tool: '/usr/bin/' + tool))
        stop = FakeKernel(self.host).mdadm

        def mdadm(argv, stdout):
            stop(argv, stdout)
            if argv[2].endswith('/md127'):
                # udev's incremental assembly, under another number
                self.host.add_md('md126', '9:126', over=['loop2p1'])
        runner = FakeRunner([
            ['mdadm', '--stop', os.path.join(self.host.dev_root, 'md127')],
            ['udevadm', 'settle', '--timeout=10'],
            ['mdadm', '--stop', os.path.join(self.host.dev_root, 'md126')],
            ['udevadm', 'settle', '--timeout=10']], effects={'mdadm': mdadm})
        self.release(runner, members=['loop1p1', 'loop2p1'],
                     devnums=['259:1', '259:2'])
        runner.assert_done()

    def test_by_name_when_no_members_are_known(self):
        # cleanup --from-system: the node knows its name, not its members
        self.host.add_md('md127', '9:127', over=['loop1p1'])
        self.host.add_md('md126', '9:126', over=['sda1'])
        nodes = config.build(yaml.safe_load(RAID1), PARAMS)
        recording = blockdevice.record(PARAMS, nodes,
                                       blockdevice.plan(PARAMS, nodes))
        self.assertEqual([('root_md', 'md', 'root_md')],
                         [(node.name, kind, name) for node, kind, name
                          in recording.claims if kind == 'md'])
        (kind, args), = [(e['kind'], e['args']) for e in recording.holds
                         if e['kind'] in resources.BY_NAME and
                         e['plugin'] == 'mdraid']
        dev = self.host.dev_root
        runner = FakeRunner([
            (['mdadm', '--detail', '--export', dev + '/md126'],
             detail('other')),
            (['mdadm', '--detail', '--export', dev + '/md127'], detail()),
            ['mdadm', '--stop', dev + '/md127'],
            (['mdadm', '--detail', '--export', dev + '/md126'],
             detail('other'))], effects=FakeKernel(self.host).effects())
        resources.release(resources.Scope(runner, from_system=True),
                          {'kind': kind, 'node': '(system)',
                           'plugin': 'mdraid', 'args': args})
        runner.assert_done()

    def test_an_array_that_keeps_coming_back_is_reported(self):
        self.host.add_md('md127', '9:127', over=['loop1p1'])
        runner = FakeRunner([['mdadm', '--stop', os.path.join(
            self.host.dev_root, 'md127')]] * 3)
        err = self.assertRaises(resources.ReleaseError, self.release, runner,
                                members=['loop1p1'], devnums=['259:1'])
        self.assertIn('md array r keeps coming back', str(err))


class TestStaleLink(TestCase):
    """mdadm without udev leaves /dev/md/<name> behind; with udev the link
    may vanish at any moment.  Either way the stop succeeds."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.md_dir = os.path.join(self.host.dev_root, 'md')
        os.makedirs(self.md_dir)

    def stop(self, kname='md127'):
        runner = FakeRunner([['mdadm', '--stop', os.path.join(
            self.host.dev_root, kname)]])
        mdraidkernel.stop(self.host, runner, kname, 'root_md')
        runner.assert_done()

    def test_link_to_the_stopped_array_is_removed(self):
        self.host.dev_link('md/root_md', 'md127')
        self.stop()
        self.assertEqual([], os.listdir(self.md_dir))

    def test_link_to_another_array_stays(self):
        self.host.dev_link('md/root_md', 'md126')
        self.stop()
        self.assertEqual(['root_md'], os.listdir(self.md_dir))

    def test_link_gone_before_it_is_read(self):
        link = self.host.dev_link('md/root_md', 'md127')
        real_readlink = os.readlink

        def udev_was_faster(path, *args, **kwargs):
            if path == link:
                os.unlink(link)
            return real_readlink(path, *args, **kwargs)
        self.useFixture(fixtures.MonkeyPatch('os.readlink', udev_was_faster))
        self.stop()
        self.assertEqual([], os.listdir(self.md_dir))


class TestValidationErrors(ValidationCases):

    LOOPS = ('- local_loop: {name: a}\n- local_loop: {name: b}\n'
             '- local_loop: {name: c}\n- local_loop: {name: d}\n')
    CASES = [
        (LOOPS + '- mdraid: {name: r, base: [a], level: 1}',
         '[4].mdraid.base: level 1 needs at least 2 active members, got 1 '
         '(1 in base)'),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 5}',
         '[4].mdraid.base: level 5 needs at least 3 active members, got 2'),
        (LOOPS + '- mdraid: {name: r, base: [a, b, c], level: 6}',
         '[4].mdraid.base: level 6 needs at least 4 active members, got 3'),
        (LOOPS + '- mdraid: {name: r, base: [a], level: 10}',
         '[4].mdraid.base: level 10 needs at least 2'),
        (LOOPS + '- mdraid: {name: r, base: [a], level: linear}',
         '[4].mdraid.base: level linear needs at least 2'),
        (LOOPS + '- mdraid: {name: r, base: [a, b, c], level: 1, spares: 2}',
         '[4].mdraid.base: level 1 needs at least 2 active members, got 1 '
         '(3 in base minus 2 spares)'),
        (LOOPS + '- mdraid: {name: r, base: [a, b, c], level: 0, spares: 1}',
         '[4].mdraid.spares: level 0 has no redundancy and takes no spares'),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 3}',
         "[4].mdraid.level: expected one of 0, 1, 5, 6, 10, 'linear', got 3"),
        (LOOPS + '- mdraid: {name: r, base: [a, a], level: 1}',
         '[4].mdraid.base: a list of the member devices\' node names, each '
         'once'),
        (LOOPS + '- mdraid: {name: r, base: a, level: 1}',
         '[4].mdraid.base: expected a list, got a string'),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 1, '
         'metadata: 0.90}',
         "[4].mdraid.metadata: expected one of 1.0, 1.1, 1.2 (quote it in "
         "YAML), got 0.9"),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 1, chunk: 64KiB}',
         '[4].mdraid.chunk: level 1 has no chunks'),
        (LOOPS + '- mdraid: {name: r, base: [a, b, c], level: 5, '
         'chunk: 512K}',
         '[4].mdraid.chunk: expected a power of two multiple of 4 KiB such '
         'as 512KiB, got 512000 bytes'),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 0, '
         'assume-clean: true}',
         '[4].mdraid.assume-clean: level 0 has nothing to resync'),
        (LOOPS + '- mdraid: {name: r, base: [a, b], level: 1, '
         'raid-devices: 2}', "[4].mdraid: unknown option 'raid-devices'"),
        (LOOPS + '- mdraid: {base: [a, b], level: 1}',
         "[4].mdraid: 'name' is required but missing"),
        (LOOPS + '- mdraid: {name: a_rather_long_array_name_xyz, '
         'base: [a, b], level: 1}',
         '[4].mdraid.name: "any:a_rather_long_array_name_xyz" is 32 '
         'characters; the md superblock holds homehost:name in at most 31'),
        (LOOPS + '- mdraid: {name: r, base: [a, e], level: 1}',
         "[4].mdraid.base: base 'e' names no node"),
        (LOOPS + '- mkfs: {name: fs, base: a, type: ext4}\n'
         '- mdraid: {name: r, base: [b, fs], level: 1}',
         '[5].mdraid.base[1]: mdraid needs a block device as base; fs is a '
         'filesystem'),
        ('- local_loop: {name: a, size: 2MiB}\n'
         '- local_loop: {name: b, size: 2MiB}\n'
         '- mdraid: {name: r, base: [a, b], level: 1}',
         '[2].mdraid.base: the members are too small'),
    ]

    def test_each_error(self):
        self.check_each_error()

    def test_good_configs(self):
        for text in (RAID1, STACK):
            status, err, _ = self.run_init(text)
            self.assertEqual(0, status, err)


class TestRaidLevelIsNotNodeLevel(TestCase):

    def test_raid0_is_not_a_level0_disk(self):
        nodes = config.build(yaml.safe_load("""
        - local_loop: {name: image0}
        - local_loop: {name: image1}
        - mdraid: {name: md0, base: [image0, image1], level: 0}
        """), {'build-dir': '/b', 'image-dir': '/i'})
        self.assertEqual(['image0', 'image1'],
                         config.summary(nodes, {})['level0'])
        self.assertIsNone(nodes[2].level)
        self.assertEqual(0, nodes[2].raid_level)

    def test_assume_clean_only_on_zeroed_members(self):
        options = {'level': 1}
        self.assertIn('--assume-clean', mdraid.create_argv(
            '/dev/md/md0', 'md0', options, ['/dev/a', '/dev/b'],
            zeroed=True))
        self.assertNotIn('--assume-clean', mdraid.create_argv(
            '/dev/md/md0', 'md0', options, ['/dev/a', '/dev/b'],
            zeroed=False))
