"""btrfs subvolumes with a fake runner: paths, the commands that make
them, the order they are mounted in, their fstab lines, the refusals."""
import os

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import config
from diskimage_builder.block_device import getval
from diskimage_builder.block_device import offline
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown
from diskimage_builder.block_device.level3 import btrfs
from diskimage_builder.block_device.tests.support.compat import PARAMS
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import \
    ValidationCases
from diskimage_builder.block_device.tests.support.fakes import blkid
from diskimage_builder.block_device.tests.support.fakes import \
    unmount_commands
from diskimage_builder.block_device.tests.support.harness import Build

FS_UUID = '4b0d1c2e-8f3a-4d5b-9c6e-7f8091a2b3c4'

# Tree form; the nested subvolume's mount point comes first on purpose.
CONFIG = """
- local_loop: {name: image0, size: 512MiB}
- mkfs:
    name: mkfs_root
    base: image0
    type: btrfs
    label: broot
    btrfs:
      subvolumes:
        - {path: '@home/alice', mount_point: /home/alice,
           quota: {referenced: 64MiB, exclusive: 32MiB}}
        - {path: '/@/', mount_point: /, default: true,
           options: 'compress=zstd:3,noatime'}
        - {path: '@home', mount_point: /home, options: [noatime, ro]}
        - {path: '@/var/lib/machines'}
"""

# The same in graph form, with a plain mount of the default subvolume.
GRAPH = """
- local_loop: {name: image0, size: 512MiB}
- mkfs: {name: fs, base: image0, type: btrfs}
- btrfs:
    name: subvols
    base: fs
    spec: uuid
    subvolumes:
      - {path: '@', default: true}
      - {path: '@srv', mount_point: /srv, name: srv}
- mount: {name: top, base: subvols, mount_point: /}
- fstab: {base: top}
"""


def build(text, **params):
    return config.build(yaml.safe_load(text), dict(PARAMS, **params))


class TestPaths(TestCase):

    def test_normalised(self):
        for given, want in [('@', '@'), ('/@home/', '@home'),
                            ('@//var/./lib', '@/var/lib'),
                            ('a.b/c-d:e+f_g', 'a.b/c-d:e+f_g')]:
            self.assertEqual(want, btrfs.normalise_path(given))

    def test_refused(self):
        for given, why in [('/', 'names the top level'),
                           ('.', 'names the top level'),
                           ('@/../x', '".."'), ('@ home', 'expected names'),
                           ('a,b', 'expected names'), ('a\nb', 'expected')]:
            err = self.assertRaises(ValueError, btrfs.normalise_path, given)
            self.assertIn(why, str(err))

    def test_steps(self):
        items = [{'path': '@home/a', 'quota': {'referenced': 10,
                                               'exclusive': 5}},
                 {'path': '@', 'default': True}, {'path': '@home'},
                 {'path': '@/var/lib/x'}]
        self.assertEqual([
            (None, ['btrfs', 'quota', 'enable', '/t']),
            (None, ['btrfs', 'subvolume', 'create', '/t/@']),
            ('@/var/lib', ['btrfs', 'subvolume', 'create', '/t/@/var/lib/x']),
            (None, ['btrfs', 'subvolume', 'create', '/t/@home']),
            ('@home', ['btrfs', 'subvolume', 'create', '/t/@home/a']),
            (None, ['btrfs', 'qgroup', 'limit', '-e', '5', '/t/@home/a']),
            (None, ['btrfs', 'qgroup', 'limit', '10', '/t/@home/a']),
            (None, ['btrfs', 'subvolume', 'set-default', '/t/@']),
        ], btrfs.steps('/t', items, quota=True))
        self.assertEqual([(None, ['btrfs', 'subvolume', 'create', '/t/s'])],
                         btrfs.steps('/t', [{'path': 's'}], quota=False))


class TestGraph(TestCase):

    def test_mounts_in_mount_point_order_lines_with_them(self):
        nodes = build(CONFIG)
        names = [n.name for n in nodes]
        mounts = [n.name for n in nodes if n.kind == 'subvolume']
        self.assertEqual(['btrfs_mkfs_root:@', 'btrfs_mkfs_root:@home',
                          'btrfs_mkfs_root:@home/alice'], mounts)
        self.assertLess(names.index('btrfs_mkfs_root'),
                        names.index('btrfs_mkfs_root:@'))
        values = config.summary(nodes, PARAMS)
        self.assertEqual(['/home/alice', '/', '/home'],
                         values['mount-points'])
        self.assertEqual(('broot', 'btrfs'),
                         (values['root-label'], values['root-fstype']))

    def test_tree_and_graph_form(self):
        nodes = {n.name: n for n in build(GRAPH)}
        self.assertEqual(['subvols'], nodes['srv'].deps)
        self.assertEqual(['subvols'], nodes['top'].deps)
        self.assertEqual({'mount_point': '/srv', 'subvol': '@srv',
                          'options': []}, nodes['srv'].facts)
        # the fstab line of / comes before the line of /srv
        order = list(nodes)
        self.assertLess(order.index('fstab_top'), order.index('srv'))

    def test_fstab_lines_in_the_plan(self):
        rec = blockdevice.record(PARAMS, build(CONFIG), {})
        lines = [rec.recorded[name]['fstab'] for name in rec.recorded
                 if 'fstab' in rec.recorded[name]]
        self.assertEqual([
            'LABEL=broot / btrfs subvol=@,compress=zstd:3,noatime 0 0',
            'LABEL=broot /home btrfs subvol=@home,noatime,ro 0 0',
            'LABEL=broot /home/alice btrfs subvol=@home/alice 0 0'], lines)

    def test_offline_refuses_subvolumes_in_one_line(self):
        lines = offline.refusals(build(CONFIG))
        self.assertIn('[1].mkfs.btrfs: btrfs needs the kernel: mkfs.btrfs '
                      '--rootdir of btrfs-progs 6.2 makes no subvolumes',
                      lines[0])


class TestValidation(ValidationCases):

    def case(self, subvolumes, base_type='btrfs', extra=''):
        return ("- local_loop: {name: image0, size: 512MiB}\n"
                "- mkfs: {name: fs, base: image0, type: %s}\n"
                "- btrfs:\n    base: fs\n%s    subvolumes: %s\n"
                % (base_type, extra, subvolumes))

    def test_errors_name_the_yaml_path(self):
        cases = [
            (self.case("[{path: '@/../x'}]"),
             "[2].btrfs.subvolumes[0].path: '@/../x' must not contain"),
            (self.case("[{path: '/'}]"),
             '[2].btrfs.subvolumes[0].path: \'/\' names the top level'),
            (self.case("[{path: '@a'}, {path: '/@a/'}]"),
             '[2].btrfs.subvolumes[1].path: subvolume @a is also given at '
             '[2].btrfs.subvolumes[0]'),
            (self.case("[{path: a, default: true}, {path: b, default: "
                       "true}]"),
             '[2].btrfs.subvolumes[1].default: only one subvolume can be '
             'the default'),
            (self.case("[{path: a, mount_point: /a, options: "
                       "'subvol=b'}]"),
             '[2].btrfs.subvolumes[0].options: subvol=b is set by the '
             'build'),
            (self.case("[{path: a, mount_point: /a, options: "
                       "[noatime, 'x y']}]"),
             '[2].btrfs.subvolumes[0].options[1]: expected mount options'),
            (self.case("[{path: a, options: noatime}]"),
             '[2].btrfs.subvolumes[0].options: mount options need a '
             'mount_point'),
            (self.case("[{path: a, mount_point: /x/../y}]"),
             '[2].btrfs.subvolumes[0].mount_point:'),
            (self.case("[{path: a, mount_point: /a}, {path: b, "
                       "mount_point: /a}]"),
             '[2].btrfs.subvolumes[1].mount_point: mount point /a is also '
             'used by'),
            (self.case("[{path: a, quota: {referenced: lots}}]"),
             '[2].btrfs.subvolumes[0].quota.referenced:'),
            (self.case("[{path: a, quota: {referenced: 1GiB}}]",
                       extra='    quota: false\n'),
             '[2].btrfs.quota: is false, but [2].btrfs.subvolumes[0].quota '
             'sets a limit'),
            (self.case("[{path: a}]", base_type='ext4'),
             '[2].btrfs.base: subvolumes need a btrfs filesystem; fs is '
             'ext4'),
            (self.case("[]"), '[2].btrfs.subvolumes: must not be empty'),
            (self.case("[{path: a, bogus: 1}]"),
             "[2].btrfs.subvolumes[0]: unknown option 'bogus'"),
        ]
        for text, expected in cases:
            status, err, build_ = self.run_init(text)
            self.check_rejected(status, err, build_, text)
            self.assertIn(expected, err, text)

    def test_mount_base_is_required(self):
        status, err, build_ = self.run_init(self.case("[{path: a}]"),
                                            **{'mount-base': None})
        self.check_rejected(status, err, build_, 'no mount-base')
        self.assertIn('params.mount-base: is required to make btrfs '
                      'subvolumes ([2].btrfs)', err)


class TestCreate(TestCase):
    """The golden commands of create and umount on the fake host."""

    def setUp(self):
        super().setUp()
        self.build = self.useFixture(Build(CONFIG, devices=False))
        self.host = self.useFixture(FakeHostFixture()).host
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        self.params = config.load_params(self.build.params_path)
        blockdevice.init(self.params)
        self.loop = os.path.join(self.host.dev_root, 'loop1')
        self.image = os.path.join(self.build.image_dir, 'image0.raw')
        self.mnt = self.build.mount_base

    def expected(self):
        loop, mnt = self.loop, self.mnt
        return [
            (['losetup', '--find', '--show', '--partscan', self.image],
             loop + '\n'),
            ['mkfs.btrfs', '-f', '-q', '-K', '-L', 'broot', loop],
            (['blkid', '-p', '-o', 'export', loop],
             blkid(loop, 'btrfs', 'broot', FS_UUID)),
            ['mount', '-t', 'btrfs', '-o', 'subvolid=5', loop, mnt],
            ['btrfs', 'quota', 'enable', mnt],
            ['btrfs', 'subvolume', 'create', mnt + '/@'],
            ['btrfs', 'subvolume', 'create', mnt + '/@/var/lib/machines'],
            ['btrfs', 'subvolume', 'create', mnt + '/@home'],
            ['btrfs', 'subvolume', 'create', mnt + '/@home/alice'],
            ['btrfs', 'qgroup', 'limit', '-e', str(32 << 20),
             mnt + '/@home/alice'],
            ['btrfs', 'qgroup', 'limit', str(64 << 20), mnt + '/@home/alice'],
            ['btrfs', 'subvolume', 'set-default', mnt + '/@'],
            ['umount', mnt],
            ['mount', '-t', 'btrfs', '-o', 'subvol=@,compress=zstd:3,'
             'noatime', loop, mnt],
            ['mount', '-t', 'btrfs', '-o', 'subvol=@home,noatime', loop,
             mnt + '/home'],
            ['mount', '-t', 'btrfs', '-o', 'subvol=@home/alice', loop,
             mnt + '/home/alice'],
        ]

    def test_create_then_umount_in_reverse(self):
        kernel = FakeKernel(self.host).effects()
        runner = FakeRunner(self.expected(), kernel)
        blockdevice.create(self.params, runner)
        runner.assert_done()
        self.assertTrue(os.path.isdir(self.mnt + '/@/var/lib'))
        folder = state_mod.state_dir(self.params['build-dir'])
        state = state_mod.State.load(folder)
        self.assertEqual(
            [self.mnt, self.mnt + '/home', self.mnt + '/home/alice'],
            [e['args']['target'] for e in state.journal
             if e['kind'] == 'mount'])
        self.assertEqual('LABEL=broot /home btrfs subvol=@home,noatime,ro '
                         '0 0', state.results('btrfs_mkfs_root:@home')[
                             'fstab'])
        self.assertEqual(['@', '@/var/lib/machines', '@home', '@home/alice'],
                         state.results('btrfs_mkfs_root')['subvolumes'])
        # getval answers in config order, as for any mount
        self.assertEqual('/home/alice|/|/home', getval.getval(
            self.params['build-dir'], 'mount-points'))
        teardown.teardown(self.params, FakeRunner(
            unmount_commands(self.mnt + '/home/alice') +
            unmount_commands(self.mnt + '/home') +
            unmount_commands(self.mnt) +
            [['losetup', '--detach', self.loop]], kernel), 'umount')
        self.assertEqual([], self.host.mounts_below(self.mnt))

    def test_a_failure_unmounts_the_top_level(self):
        expected = self.expected()[:8]
        expected[-1] = (expected[-1], 'ERROR: cannot create', 1)
        kernel = FakeKernel(self.host).effects()
        runner = FakeRunner(expected + unmount_commands(self.mnt) + [
            ['losetup', '--detach', self.loop]], kernel)
        err = self.assertRaises(Exception, blockdevice.create, self.params,
                                runner)
        self.assertIn('btrfs subvolume create', str(err))
        runner.assert_done()
        self.assertEqual([], self.host.mounts_below(self.mnt))
        self.assertFalse(os.path.exists(self.image))
