"""The lvm plugin: golden commands, planning, validation, teardown."""
import os
import textwrap

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import cli
from diskimage_builder.block_device import config
from diskimage_builder.block_device import context
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.level1 import lvmkernel
from diskimage_builder.block_device.level1 import lvmspec
from diskimage_builder.block_device.level2 import mkfs
from diskimage_builder.block_device.tests.support.compat import compat_text
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase

CFG = lvmspec.LVM_CONFIG
GIB = 1 << 30

THIN = """
- local_loop: {name: image0, size: 2GiB}
- lvm:
    name: lvm
    base: image0
    pvs: [{name: pv0, base: image0}]
    vgs: [{name: vg-img, base: [pv0], options: [-s, 8M]}]
    lvs:
      - {name: pool, base: vg-img, type: thin-pool, extents: 80%VG}
      - name: thin-a
        base: vg-img
        type: thin
        thin-pool: pool
        size: 3GiB
        mkfs: {type: ext4, label: thin-a, mount: {mount_point: /}}
      - {name: thin-b, base: vg-img, type: thin, thin-pool: pool,
         size: 512MiB, options: [--setactivationskip, n]}
"""


def lvm_cmd(tool, devices, *args):
    return [tool, '--devices', ','.join(devices), '--config', CFG, *args]


class NodesTestCase(TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.params = {'build-dir': self.root + '/build',
                       'image-dir': self.root + '/images',
                       'mount-base': self.root + '/mnt',
                       'root-fs-type': 'ext4', 'root-label': 'root'}
        os.makedirs(self.root + '/build')
        self.state = state_mod.State(self.root + '/build')
        self.host = self.useFixture(FakeHostFixture()).host
        self.kernel = FakeKernel(self.host)

    def dev(self, name):
        return os.path.join(self.host.dev_root, name)

    def build(self, text, **params):
        self.params.update(params)
        nodes = config.build(yaml.safe_load(textwrap.dedent(text)),
                             self.params)
        return nodes, blockdevice.plan(self.params, nodes)

    def create(self, nodes, planned, runner, skip=()):
        ctx = context.RealContext(runner, self.state, self.params, nodes,
                                  planned)
        for node in nodes:
            if node.name not in skip:
                node.create(ctx)
        runner.assert_done()

    def journal(self):
        return [(e['node'], e['kind'], e['args']) for e in self.state.journal]


class TestCompatEfiLvm(NodesTestCase):

    def setUp(self):
        super().setUp()
        self.text = compat_text('block-device-efi-lvm--default.yaml')
        self.host.add_disk('loop0', '7:0')
        for number in (1, 2, 3):
            self.host.add_partition('loop0', number, '259:%d' % number)

    def test_plan_from_the_pv_size(self):
        nodes, planned = self.build(self.text, **{'image-size': '38GiB'})
        # 40G root partition (38146 MiB: diskimage-builder's GPT sizes are
        # whole MiB), minus 1 MiB before the first extent.
        self.assertEqual(38145 << 20, planned['pv'].details['data_bytes'])
        self.assertEqual({'extent_size': 4 << 20, 'extents': 9536,
                          'free': 1, 'allocation': {
                              'lv_root': 2193, 'lv_var': 5435,
                              'lv_home': 1907}},
                         dict(planned['vg'].details))
        self.assertTrue(planned['vg'].zeroed)
        self.assertEqual([2193, 5435, 1907], [
            planned[lv].details['extents']
            for lv in ('lv_root', 'lv_var', 'lv_home')])
        self.assertEqual(2193 * (4 << 20), planned['lv_root'].size)

    def test_golden_commands(self):
        nodes, planned = self.build(self.text, **{'image-size': '38GiB'})
        self.state.record('image0', device=self.dev('loop0'))
        self.state.record('table:image0', device=self.dev('loop0'))
        for number, name in enumerate(('ESP', 'BSP', 'root'), 1):
            self.state.record(name, device=self.dev('loop0p%d' % number))
        pv = [self.dev('loop0p3')]
        esp = self.dev('loop0p1')
        lv = {name: self.dev('vg/' + name)
              for name in ('lv_root', 'lv_var', 'lv_home')}
        mnt = self.root + '/mnt'
        # -K: new LVs of a new sparse image read as zeros, no discard.
        xfs = ['mkfs.xfs', '-f', '-q', '-K', '-L']

        def blkid(device, fstype, label):
            return (['blkid', '-p', '-o', 'export', device],
                    'TYPE=%s\nLABEL=%s\nUUID=u-%s\n' % (fstype, label, label))
        runner = FakeRunner([
            (['mkfs.vfat', '-n', 'MKFS_ESP', esp], ''),
            blkid(esp, 'vfat', 'MKFS_ESP'),
            lvm_cmd('pvcreate', pv, '--yes', '--force', pv[0]),
            lvm_cmd('vgcreate', pv, '--force', 'vg', pv[0]),
            lvm_cmd('lvcreate', pv, '--yes', '--extents', '23%VG',
                    '--name', 'lv_root', 'vg'),
            lvm_cmd('lvcreate', pv, '--yes', '--extents', '57%VG',
                    '--name', 'lv_var', 'vg'),
            lvm_cmd('lvcreate', pv, '--yes', '--extents', '20%VG',
                    '--name', 'lv_home', 'vg'),
            (xfs + ['img-rootfs', lv['lv_root']], ''),
            blkid(lv['lv_root'], 'xfs', 'img-rootfs'),
            # Mounts in the order of their mount points as strings.
            (['mount', '-t', 'xfs', lv['lv_root'], mnt], ''),
            (['mount', '-t', 'vfat', esp, mnt + '/boot/efi'], ''),
            (xfs + ['fs_var', lv['lv_var']], ''),
            blkid(lv['lv_var'], 'xfs', 'fs_var'),
            (xfs + ['fs_home', lv['lv_home']], ''),
            blkid(lv['lv_home'], 'xfs', 'fs_home'),
            (['mount', '-t', 'xfs', lv['lv_home'], mnt + '/home'], ''),
            (['mount', '-t', 'xfs', lv['lv_var'], mnt + '/var'], ''),
        ], effects=self.kernel.effects())
        self.create(nodes, planned, runner,
                    skip=('image0', 'table:image0', 'ESP', 'BSP', 'root'))
        # Each VG and LV entry carries the numbers of the devices it
        # stands on: teardown touches no VG of that name standing on
        # anything else.
        on = {'devices': pv, 'devnums': ['259:3'],
              'ids': [{'devnum': '259:3'}]}
        self.assertEqual([
            ('pv', 'lvm-pv', {'device': pv[0]}),
            ('vg', 'lvm-vg', dict(on, vg='vg')),
            ('lv_root', 'lvm-lv', dict(on, vg='vg', lv='lv_root',
                                       lv_type='lv')),
            ('lv_var', 'lvm-lv', dict(on, vg='vg', lv='lv_var',
                                      lv_type='lv')),
            ('lv_home', 'lvm-lv', dict(on, vg='vg', lv='lv_home',
                                       lv_type='lv')),
        ], [j for j in self.journal() if j[1].startswith('lvm')])
        self.assertEqual(lv['lv_var'], self.state.results('lv_var')[
            'device'])
        self.assertEqual('LABEL=img-rootfs / xfs rw,relatime 0 1',
                         self.state.results('fstab_mount_fs_root')['fstab'])
        self.assertNotIn('device', self.state.results('vg'))
        self.assertNotIn('device', self.state.results('pv'))

    def test_the_lvm_entry_name_is_no_node(self):
        nodes = config.build(yaml.safe_load(self.text), self.params)
        self.assertNotIn('lvm', [n.name for n in nodes])
        self.assertEqual(['pv', 'vg', 'lv_root', 'lv_var', 'lv_home'],
                         [n.name for n in nodes if n.plugin == 'lvm'])


class TestThin(NodesTestCase):

    def test_golden_commands_and_hyphenated_names(self):
        self.host.add_disk('loop2', '7:2')
        nodes, planned = self.build(THIN)
        dev = [self.dev('loop2')]
        thin_a = self.dev('vg-img/thin-a')
        self.state.record('image0', device=dev[0])
        runner = FakeRunner([
            lvm_cmd('pvcreate', dev, '--yes', dev[0]),
            lvm_cmd('vgcreate', dev, '-s', '8M', 'vg-img', dev[0]),
            lvm_cmd('lvcreate', dev, '--yes', '--type', 'thin-pool',
                    '--extents', '80%VG', '--name', 'pool', 'vg-img'),
            lvm_cmd('lvcreate', dev, '--yes', '--type', 'thin',
                    '--thinpool', 'pool', '--virtualsize', '%dB' % (3 * GIB),
                    '--name', 'thin-a', 'vg-img'),
            lvm_cmd('lvcreate', dev, '--yes', '--type', 'thin',
                    '--thinpool', 'pool', '--virtualsize', '%dB' % (512 << 20),
                    '--name', 'thin-b', '--setactivationskip', 'n',
                    'vg-img'),
            (['mkfs.ext4', '-F', '-q', *mkfs.EXT_ZEROED, '-L', 'thin-a',
              thin_a], ''),
            (['blkid', '-p', '-o', 'export', thin_a],
             'TYPE=ext4\nLABEL=thin-a\n'),
            (['mount', '-t', 'ext4', thin_a, self.root + '/mnt'], ''),
        ], effects=self.kernel.effects())
        self.create(nodes, planned, runner, skip=('image0',))
        self.assertEqual({'vg': 'vg-img', 'lv': 'thin-a', 'lv_type': 'thin',
                          'mapper': 'vg--img-thin--a', 'device': thin_a},
                         self.state.results('thin-a'))
        self.assertNotIn('device', self.state.results('pool'))
        self.assertEqual(['pv0', 'vg-img', 'pool', 'thin-a', 'thin-b'],
                         [n for n, k, _ in self.journal()
                          if k.startswith('lvm')])

    def test_plan(self):
        _, planned = self.build(THIN)
        # 2 GiB less 1 MiB in 8 MiB extents; the pool takes 80% for data
        # plus its metadata and spare (2 MiB each, one extent each).
        self.assertEqual(255, planned['vg-img'].details['extents'])
        self.assertEqual(204, planned['pool'].details['extents'])
        self.assertEqual(255 - 206, planned['vg-img'].details['free'])
        self.assertEqual(3 * GIB, planned['thin-a'].size)

    def test_plan_pool_in_all_free_space(self):
        # As lvcreate did in the VM tier: 1 GiB, 4 MiB extents, 100%FREE
        # gives 253 extents of data, one of metadata and one of spare.
        _, planned = self.build(THIN.replace('80%VG', '100%FREE').replace(
            'options: [-s, 8M]', 'options: []').replace('2GiB', '1GiB'))
        self.assertEqual(253, planned['pool'].details['extents'])
        self.assertEqual(0, planned['vg-img'].details['free'])
        err = self.assertRaises(Exception, self.build, THIN.replace(
            '80%VG', '100%VG'))
        self.assertIn('LV pool needs 257 extents', str(err))

    def test_missing_lv_link_falls_back_to_the_kernel_node(self):
        # lvcreate made the dm device but no /dev/<vg>/<lv> link, and no
        # udev or devtmpfs made a node: it is made from sysfs.
        self.host.add_disk('loop2', '7:2')
        nodes, planned = self.build(THIN)
        node = [n for n in nodes if n.name == 'thin-a'][0]
        dev = [self.dev('loop2')]
        self.state.record('vg-img', devices=dev)

        def lvcreate(argv, stdout):
            self.host.add_dm('dm-4', '253:4', 'vg--img-thin--a', 'LVM-x')
            os.unlink(self.dev('dm-4'))
        ctx = context.RealContext(FakeRunner([node.argv(dev)], effects={
            'lvcreate': lvcreate}), self.state, self.params, nodes, planned)
        node.create(ctx)
        self.assertEqual(self.dev('dm-4'),
                         self.state.results('thin-a')['device'])
        self.assertEqual('253:4', self.host.devnum(self.dev('dm-4')))
        self.assertEqual(['lvm-lv', 'device-node'],
                         [k for _, k, _ in self.journal()])


class TestHelpers(TestCase):

    def test_mapper_names(self):
        self.assertEqual('vg-lv', lvmspec.mapper_name('vg', 'lv'))
        self.assertEqual('vg--img-lv--root--x',
                         lvmspec.mapper_name('vg-img', 'lv-root-x'))
        for vg, lv in (('a-', 'b'), ('x--y', 'z-'), ('v', 'l')):
            self.assertEqual([vg, lv], lvmspec.split_mapper_name(
                lvmspec.mapper_name(vg, lv)))
        self.assertEqual(['vg', 'pool', 'tpool'],
                         lvmspec.split_mapper_name('vg-pool-tpool'))

    def test_lv_sizes_read_as_diskimage_builder_does(self):
        # Its size grammar (M, G decimal), rounded down to 4 MiB.
        table = [('1800M', 429 * (4 << 20)), ('1800MiB', 1800 << 20),
                 ('2GiB', 2 * GIB), ('1.5G', 357 * (4 << 20)),
                 (12582917, 12582912), ('4MB', 0), ('100M', 96468992)]
        for text, value in table:
            self.assertEqual(value, lvmspec.parse_lv_size(text), text)
        for bad in ('10Q', 'lots', '', True, '-1M', '2g'):
            self.assertRaises(ValueError, lvmspec.parse_lv_size, bad)

    def test_extents(self):
        self.assertEqual((23, 'VG'), lvmspec.parse_extents('23%VG'))
        self.assertEqual((100, 'FREE'), lvmspec.parse_extents('100%FREE'))
        self.assertEqual((512, None), lvmspec.parse_extents(512))
        for bad in ('101%VG', '0', '5%ORIGIN', '5%', 'all'):
            self.assertRaises(ValueError, lvmspec.parse_extents, bad)

    def test_extent_size_from_vgcreate_options(self):
        self.assertEqual(4 << 20, lvmspec.extent_size(None))
        self.assertEqual(4 << 20, lvmspec.extent_size(['--force']))
        self.assertEqual(8 << 20, lvmspec.extent_size(['-s', '8M']))
        self.assertEqual(16 << 20, lvmspec.extent_size('-s16m'))
        self.assertEqual(32 << 20, lvmspec.extent_size(
            ['--physicalextentsize=32M']))
        self.assertIsNone(lvmspec.extent_size(['-s', 'huge']))

    def test_every_command_sees_only_the_image_devices(self):
        args = lvmspec.lvm_args(['/dev/loop0p3', '/dev/loop1'])
        self.assertEqual(['--devices', '/dev/loop0p3,/dev/loop1',
                          '--config'], args[:3])
        for setting in ('udev_sync=0', 'udev_rules=0', 'monitoring=0',
                        'obtain_device_list_from_udev=0', 'backup=0',
                        'archive=0', 'system_id_source="none"'):
            self.assertIn(setting, args[3])


class TestTeardown(TestCase):
    """VGs and LVs are deactivated only when they stand on this build's
    PVs, seen only through them."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.host.add_disk('loop0', '7:0')
        self.host.add_partition('loop0', 3, '259:3')
        self.pv = os.path.join(self.host.dev_root, 'loop0p3')
        self.args = {'vg': 'vg-img', 'devices': [self.pv],
                     'devnums': ['259:3']}

    def release(self, runner, kind, **args):
        resources.release(resources.Scope(runner), {
            'kind': kind, 'node': 'x', 'plugin': 'lvm',
            'args': dict(self.args, **args)})

    def test_lv_deactivated_only_when_active(self):
        self.host.add_dm('dm-3', '253:3', 'vg--img-thin--a', 'LVM-a',
                         over=['loop0p3'])
        self.host.add_dm('dm-9', '253:9', 'vg-thin--a', 'LVM-b',
                         over=['loop0p3'])
        runner = FakeRunner([lvm_cmd('lvchange', [self.pv], '--activate',
                                     'n', 'vg-img/thin-a')])
        self.release(runner, 'lvm-lv', lv='thin-a')
        runner.assert_done()
        # Another VG's LV of the same name is not ours.
        self.release(FakeRunner([]), 'lvm-lv', vg='other', lv='thin-a')

    def test_a_vg_on_luks_stands_on_the_mapping(self):
        # RAID, LUKS, LVM: the PV is the LUKS mapping, whose number the
        # journal recorded; the loop partitions are further down.
        self.host.add_dm('dm-0', '253:0', 'crypted', 'CRYPT-LUKS2-x',
                         over=['loop0p3'])
        self.host.add_dm('dm-1', '253:1', 'vg--img-pool_tdata', 'LVM-t',
                         over=['dm-0'])
        self.host.add_dm('dm-2', '253:2', 'vg--img-pool-tpool', 'LVM-p',
                         over=['dm-1'])
        self.host.add_dm('dm-3', '253:3', 'vg--img-thin', 'LVM-l',
                         over=['dm-2'])
        self.assertEqual({'dm-0': '253:0'},
                         lvmkernel.stands_on(self.host, 'vg-img'))
        mapped = os.path.join(self.host.dev_root, 'dm-0')
        runner = FakeRunner([lvm_cmd('vgchange', [mapped], '--activate',
                                     'n', 'vg-img')])
        self.release(runner, 'lvm-vg', devices=[mapped], devnums=['253:0'])
        runner.assert_done()

    def test_a_renumbered_pv_of_this_builds_image_is_ours(self):
        # A udev re-read the table: the PV partition has a new number, but
        # the same image file and partition number.
        folder = self.useFixture(fixtures.TempDir()).path
        image = os.path.join(folder, 'image0.raw')
        with open(image, 'w'):
            pass
        self.host.add_loop('loop5', '7:5', image, partitions=(3,))
        self.host.add_dm('dm-0', '253:0', 'vg--img-root', 'LVM-x',
                         over=['loop5p3'])
        pv = os.path.join(self.host.dev_root, 'loop5p3')
        info = os.stat(image)
        ours = {'file': [info.st_dev, info.st_ino], 'partition': 3}
        runner = FakeRunner([lvm_cmd('vgchange', [pv], '--activate', 'n',
                                     'vg-img')])
        self.release(runner, 'lvm-vg', devices=[pv], devnums=['259:3'],
                     ids=[ours])
        runner.assert_done()
        # Another file's partition 3: not ours.
        self.assertRaises(resources.NotOurs, self.release, FakeRunner([]),
                          'lvm-vg', devices=[pv], devnums=['259:83'],
                          ids=[dict(ours, file=[1, 2])])

    def test_pool_is_active_through_its_hidden_lvs(self):
        self.host.add_dm('dm-1', '253:1', 'vg--img-pool_tmeta', 'LVM-x')
        self.assertTrue(lvmkernel.lv_is_active(self.host, 'vg-img', 'pool'))
        self.assertFalse(lvmkernel.lv_is_active(self.host, 'vg-img', 'pool2'))
        self.assertFalse(lvmkernel.lv_is_active(self.host, 'vg',
                                                'img-pool_tmeta'))

    def test_vg_deactivation_restricted_to_the_image_devices(self):
        self.host.add_dm('dm-0', '253:0', 'vg--img-root', 'LVM-x',
                         over=['loop0p3'])
        runner = FakeRunner([lvm_cmd('vgchange', [self.pv], '--activate',
                                     'n', 'vg-img')])
        self.release(runner, 'lvm-vg')
        runner.assert_done()

    def test_a_vg_of_that_name_on_other_devices_is_left_alone(self):
        self.host.add_disk('sdb', '8:16')
        self.host.add_dm('dm-0', '253:0', 'vg--img-root', 'LVM-x',
                         over=['sdb'])
        err = self.assertRaises(resources.NotOurs, self.release,
                                FakeRunner([]), 'lvm-vg')
        self.assertIn('VG vg-img is active on sdb, not (only) on this '
                      'build\'s PVs: left alone', str(err))

    def test_vg_not_active_is_a_no_op(self):
        # "vg-img" is not this VG: its dm names start "vg--img-".
        self.host.add_dm('dm-0', '253:0', 'vg-img--root', 'LVM-x',
                         over=['loop0p3'])
        self.release(FakeRunner([]), 'lvm-vg')

    def test_from_system_only_over_this_builds_images(self):
        backing = os.path.join(self.host.root, 'images', 'image0.raw')
        os.makedirs(os.path.dirname(backing))
        with open(backing, 'w'):
            pass
        self.host.add_loop('loop3', '7:3', backing, partitions=(2,))
        self.host.add_dm('dm-0', '253:0', 'vg--img-root', 'LVM-x',
                         over=['loop3p2'])
        params = {'image-dir': '/b/images', 'mount-base': '/m'}
        nodes = config.build(yaml.safe_load(THIN), params)
        recording = blockdevice.record(params, nodes,
                                       blockdevice.plan(params, nodes))
        self.assertEqual([('vg-img', 'vg', 'vg-img')],
                         [(node.name, kind, name) for node, kind, name
                          in recording.claims if kind == 'vg'])
        # What cleanup --from-system looks for by name: the VG and its
        # LVs (the VG's release deactivates them all).
        found = [(e['kind'], e['args']) for e in recording.holds
                 if e['kind'] in resources.BY_NAME and e['plugin'] == 'lvm']
        self.assertEqual(['lvm-vg', 'lvm-lv', 'lvm-lv', 'lvm-lv'],
                         [kind for kind, _ in found])
        (kind, args), = found[:1]
        entry = {'kind': kind, 'node': '(system)', 'plugin': 'lvm',
                 'args': args}
        runner = FakeRunner([lvm_cmd('vgchange', [self.host.dev_root +
                                                  '/loop3p2'],
                                     '--activate', 'n', 'vg-img')])
        resources.release(resources.Scope(
            runner, from_system=True, image_dir=os.path.dirname(backing)),
            entry)
        runner.assert_done()
        # A VG of that name on anything else is left alone.
        err = self.assertRaises(resources.NotOurs, resources.release,
                                resources.Scope(FakeRunner([]),
                                                from_system=True,
                                                image_dir='/home'), entry)
        self.assertIn('VG vg-img is active on loop3p2, not (only) on this '
                      'build\'s PVs: left alone', str(err))

    def test_pv_still_held_is_a_clear_error(self):
        self.host.add_dm('dm-0', '253:0', 'vg-root', 'LVM-x',
                         over=['loop0p3'])
        err = self.assertRaises(resources.ReleaseError, self.release,
                                FakeRunner([]), 'lvm-pv', device=self.pv)
        self.assertIn('PV %s is still held by dm-0 (vg-root)' % self.pv,
                      str(err))
        self.release(FakeRunner([]), 'lvm-pv', device='/dev/gone')

    def test_failed_create_deactivates_and_detaches(self):
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        build = self.useFixture(Build(textwrap.dedent("""
            - local_loop: {name: image0, size: 64MiB}
            - lvm:
                pvs: [{name: pv, base: image0}]
                vgs: [{name: vg, base: pv}]
                lvs:
                  - name: lv0
                    base: vg
                    size: 16MiB
                    mkfs: {type: ext4, opts: --bad}
            """), devices=False))
        image = build.image_dir + '/image0.raw'
        params = config.load_params(build.params_path)
        blockdevice.init(params)
        dev = [os.path.join(self.host.dev_root, 'loop5')]
        runner = FakeRunner([
            (['losetup', '--find', '--show', '--partscan', image],
             dev[0] + '\n'),
            lvm_cmd('pvcreate', dev, '--yes', dev[0]),
            lvm_cmd('vgcreate', dev, 'vg', dev[0]),
            lvm_cmd('lvcreate', dev, '--yes', '--size', '%dB' % (16 << 20),
                    '--name', 'lv0', 'vg'),
            (['mkfs.ext4', '-F', '-q', *mkfs.EXT_ZEROED, '-L', 'mkfs_lv0',
              '--bad', os.path.join(self.host.dev_root, 'vg', 'lv0')],
             'bad option', 1),
            lvm_cmd('lvchange', dev, '--activate', 'n', 'vg/lv0'),
            ['losetup', '--detach', dev[0]],
        ], effects=FakeKernel(self.host).effects())
        self.assertRaises(Exception, blockdevice.create, params, runner)
        runner.assert_done()
        self.assertFalse(os.path.exists(image))
        self.assertEqual([], state_mod.State.load(
            state_mod.state_dir(params['build-dir'])).journal)
        self.assertEqual({}, self.host.dm_devices())


class TestPreflight(TestCase):
    CONFIG = """
    - local_loop: {name: image0, size: 64MiB}
    - lvm:
        pvs: [{name: pv, base: image0}]
        vgs: [{name: %s, base: pv}]
        lvs: [{name: lv0, base: %s, size: 16M}]
    """

    def _create(self, vg):
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        build = self.useFixture(Build(textwrap.dedent(
            self.CONFIG % (vg, vg)), devices=False))
        stderr = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr.stream))
        self.assertEqual(0, cli.main(['--params', build.params_path,
                                      'init']))
        status = cli.main(['--params', build.params_path, 'create'])
        stderr.stream.flush()
        self.assertFalse(os.path.exists(build.image_dir))
        return status, stderr.getDetails()['stderr'].as_text()

    def test_active_vg_of_the_same_name_is_refused(self):
        host = self.useFixture(FakeHostFixture()).host
        for minor, name in enumerate(('vg-root', 'vg-swap', 'vg--x-root')):
            host.add_dm('dm-%d' % minor, '253:%d' % minor, name, 'LVM-%d'
                        % minor)
        status, err = self._create('vg')
        self.assertEqual(2, status)
        self.assertIn('[1].lvm.vgs[0]: a VG named vg is already active on '
                      'this host (vg-root, vg-swap)', err)

    def test_dev_entry_of_the_vg_name_is_refused(self):
        # A file or a folder: vgcreate refuses both.  (Names every /dev
        # has, such as zero or mapper, are refused at init already.)
        host = self.useFixture(FakeHostFixture()).host
        open(os.path.join(host.dev_root, 'gadget'), 'w').close()
        os.mkdir(os.path.join(host.dev_root, 'things'))
        for name in ('gadget', 'things'):
            status, err = self._create(name)
            self.assertEqual(2, status)
            self.assertIn('VG name %s is taken by %s/%s'
                          % (name, host.dev_root, name), err)


class TestAcceptedAsDiskimageBuilderAcceptsThem(NodesTestCase):

    def test_the_entry_base_is_ignored(self):
        # diskimage-builder's own test configs give the table's name.
        for base in ('mbr', '[root, nosuch]', 'image0'):
            nodes, _ = self.build(TestValidationErrors.HEAD + (
                '- lvm: {base: %s, pvs: [{name: pv, base: root}], vgs: '
                '[{name: vg, base: [pv]}], lvs: [{name: lv, base: vg, '
                'size: 100MiB}]}' % base), **{'image-size': '1GiB'})
            self.assertEqual(['root'], [n for n in nodes
                                        if n.name == 'pv'][0].deps)


class TestValidationErrors(TestCase):
    """Each bad config: exit 2, one line naming the YAML path, nothing
    created."""

    HEAD = ('- local_loop: {name: image0, size: 1GiB}\n'
            '- partitioning: {base: image0, label: gpt, partitions: '
            '[{name: root, size: 100%}]}\n')

    def lvm(self, pvs='[{name: pv, base: root}]',
            vgs='[{name: vg, base: [pv]}]', lvs='[{name: lv, base: vg, '
            'size: 100M}]', extra=''):
        return self.HEAD + '- lvm: {name: lvm, pvs: %s, vgs: %s, lvs: %s%s}' \
            % (pvs, vgs, lvs, extra)

    def cases(self):
        P = '[2].lvm'
        return [
            (self.lvm(lvs='[{name: a, base: vg, size: 2GiB}]'),
             P + '.lvs[0]: LV a needs 512 extents of 4 MiB but VG vg has '
             '255 of its 255 left'),
            (self.lvm(lvs='[{name: a, base: vg, size: 600MiB}, '
                      '{name: b, base: vg, extents: 50%VG}]'),
             P + '.lvs[1]: LV b needs 127 extents'),
            (self.lvm(lvs='[{name: a, base: vg, extents: 60%VG}, '
                      '{name: b, base: vg, extents: 50%VG}]'),
             P + '.lvs[1].extents: the LVs of VG vg ask for 110% of it'),
            (self.lvm(lvs='[{name: a, base: vg, extents: 100%VG}, '
                      '{name: b, base: vg, extents: 10%FREE}]'),
             P + '.lvs[1]: LV b would get no extents: VG vg has 0 of its '
             '255 left'),
            (self.lvm(lvs='[{name: a, base: vg, extents: 101%FREE}]'),
             P + ".lvs[0].extents: '101%FREE': expected a percentage"),
            (self.lvm(lvs='[{name: a, base: vg, extents: 5%ORIGIN}]'),
             P + ".lvs[0].extents: '5%ORIGIN' is not an extent count"),
            (self.lvm(lvs='[{name: a, base: vg, size: 10Q}]'),
             P + ".lvs[0].size: '10Q' has an unknown unit"),
            (self.lvm(lvs='[{name: a, base: vg, size: 4000KiB}]'),
             P + ".lvs[0].size: an LV size must be at least 4 MiB"),
            (self.lvm(lvs='[{name: a, base: vg}]'),
             P + '.lvs[0]: give size or extents'),
            (self.lvm(lvs='[{name: a, base: vg, size: 1G, extents: 1}]'),
             P + '.lvs[0]: give size or extents, not both'),
            (self.lvm(lvs='[{name: t, base: vg, type: thin, size: 1G}]'),
             P + '.lvs[0]: a thin LV needs thin-pool'),
            (self.lvm(lvs='[{name: a, base: vg, size: 8M}, {name: t, '
                      'base: vg, type: thin, thin-pool: a, size: 1G}]'),
             P + '.lvs[1].thin-pool: lvm needs a thin pool (an LV of type '
             'thin-pool) as base; a is an LVM LV'),
            (self.lvm(lvs='[{name: t, base: vg, type: thin, '
                      'thin-pool: nopool, size: 1G}]'),
             P + '.lvs[0].thin-pool: names no node'),
            (self.lvm(lvs='[{name: p, base: vg, type: thin-pool, size: 8M}, '
                      '{name: t, base: vg, type: thin, thin-pool: p, '
                      'extents: 10}]'),
             P + '.lvs[1].extents: a thin LV takes its virtual size'),
            (self.lvm(lvs='[{name: a, base: vg, size: 8M, thin-pool: a}]'),
             P + '.lvs[0].thin-pool: only a type thin LV takes'),
            (self.lvm(vgs='[{name: vg, base: []}]'),
             P + '.vgs[0].base: a VG is built on one or more PVs'),
            (self.lvm(vgs='[{name: vg}]'),
             P + ".vgs[0]: 'base' is required but missing"),
            (self.lvm(vgs='[{name: vg, base: [root]}]'),
             P + '.vgs[0].base: lvm needs an LVM PV (a pvs entry) as base; '
             'root is a partition'),
            (self.lvm(pvs='[{name: pv, base: vg}]'),
             'dependency cycle'),
            (self.lvm(pvs='[{name: pv, base: root}, {name: pv2, base: lv}]',
                      vgs='[{name: vg, base: [pv]}, {name: vg2, '
                      'base: [pv2]}]'),
             P + '.pvs[1].base: a PV cannot be on an LV (lv)'),
            (self.lvm() + '\n- mkfs: {name: fs, base: root, type: ext4}',
             '[3].mkfs.base: root, a block device, is already used by pv '
             '([2].lvm.pvs[0]); only one node can use it'),
            (self.HEAD + '- mkfs: {name: fs, base: root, type: ext4}\n'
             '- lvm: {pvs: [{name: pv, base: fs}], vgs: [{name: vg, '
             'base: pv}], lvs: []}',
             '[3].lvm.pvs[0].base: lvm needs a block device as base; fs is '
             'a filesystem (a mkfs node)'),
            (self.lvm(vgs='[{name: vg, base: [pv]}, {name: vg2, '
                      'base: [pv]}]'),
             P + '.vgs[1].base: pv, an LVM PV (a pvs entry), is already '
             'used by vg ([2].lvm.vgs[0]); only one node can use it'),
            (self.lvm() + '\n- mkfs: {name: fs, base: vg, type: ext4}',
             '[3].mkfs.base: mkfs needs a block device as base; vg is an '
             'LVM VG (a vgs entry)'),
            (self.lvm() + '\n- mkfs: {name: fs, base: pv, type: ext4}',
             '[3].mkfs.base: mkfs needs a block device as base; pv is an '
             'LVM PV (a pvs entry)'),
            (self.lvm(lvs='[{name: p, base: vg, type: thin-pool, size: 8M}]')
             + '\n- mkfs: {name: fs, base: p, type: ext4}',
             '[3].mkfs.base: mkfs needs a block device as base; p is a thin '
             'pool (an LV of type thin-pool)'),
            (self.lvm(lvs='[{name: a, base: pv, size: 8M}]'),
             P + '.lvs[0].base: lvm needs an LVM VG (a vgs entry) as base; '
             'pv is an LVM PV (a pvs entry)'),
            (self.lvm(lvs='[{name: a, base: root, size: 8M}]'),
             P + '.lvs[0].base: lvm needs an LVM VG (a vgs entry) as base; '
             'root is a partition'),
            (self.lvm(lvs='[{name: lv_tmeta, base: vg, size: 8M}]'),
             P + ".lvs[0].name: LVM reserves '_tmeta' in LV names"),
            (self.lvm(extra=', colour: red'),
             P + ": unknown option 'colour'"),
            (self.lvm(pvs='[{name: pv, base: root, opts: [-f]}]'),
             P + ".pvs[0]: unknown option 'opts', did you mean 'options'?"),
            (self.lvm(vgs='[{name: vg, base: [pv], size: 1G}]'),
             P + ".vgs[0]: unknown option 'size'"),
            (self.lvm(lvs='[{name: a, base: vg, sise: 8M}]'),
             P + ".lvs[0]: unknown option 'sise', did you mean 'size'?"),
            (self.lvm(lvs='[{name: a, base: vg, size: 8M, type: thick}]'),
             P + ".lvs[0].type: expected one of 'thin-pool', 'thin'"),
            (self.HEAD + '- lvm: {pvs: [{name: pv, base: root}], '
             'vgs: [{name: vg, base: [pv]}]}',
             P + ": 'lvs' is required but missing"),
        ]

    def test_each_error(self):
        for text, expected in self.cases():
            build = self.useFixture(Build(text, devices=False))
            stderr = self.useFixture(fixtures.StringStream('stderr'))
            self.useFixture(fixtures.MonkeyPatch('sys.stderr',
                                                 stderr.stream))
            status = cli.main(['--params', build.params_path, 'init'])
            stderr.stream.flush()
            err = stderr.getDetails()['stderr'].as_text()
            self.assertEqual(2, status, text + '\n' + err)
            self.assertIn(expected, err, text)
            self.assertEqual(1, len([line for line in err.splitlines()
                                     if 'error:' in line]), err)
            self.assertNotIn('Traceback', err)
            self.assertFalse(os.path.exists(build.build_dir), text)
            self.assertFalse(os.path.exists(build.image_dir), text)

    def test_tree_form_nests_mkfs_in_an_lv(self):
        nodes = config.build(yaml.safe_load(self.lvm(
            lvs='[{name: lv, base: vg, size: 100M, mkfs: {type: ext4, '
            'mount: {mount_point: /}}}]')),
            {'mount-base': '/m', 'image-dir': '/i'})
        fs = [n for n in nodes if n.kind == 'mkfs'][0]
        self.assertEqual(('mkfs_lv', ['lv'], '[2].lvm.lvs[0].mkfs'),
                         (fs.name, fs.deps, fs.path))
