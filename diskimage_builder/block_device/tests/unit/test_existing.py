"""The ``existing`` plugin against a fake sysfs, /dev and /proc tree: how
each selector finds its disk, every refusal, the wipe commands, create,
``create --check`` and the config errors."""
import io
import json
import os

import fixtures

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import cli
from diskimage_builder.block_device import config
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.getval import getval
from diskimage_builder.block_device.host import disks
from diskimage_builder.block_device.level0 import existing
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import GIB
from diskimage_builder.block_device.tests.support.fakehost import MIB
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase

WIPEFS = ['wipefs', '--no-act', '--json', '--output',
          'DEVICE,OFFSET,TYPE,UUID,LABEL']
FS_UUID = '70c0013b-e3ea-48eb-823b-25e540855c0e'


def wipefs_json(*signatures):
    return json.dumps({'signatures': [
        {'device': 'x', 'offset': offset, 'type': kind, 'uuid': uuid,
         'label': None} for kind, offset, uuid in signatures]})


class HostCase(TestCase):
    """A fake host with two virtio disks: vdb (disk1) and vdc (disk2)."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.host.add_disk('vda', '252:0', serial='root')
        self.host.add_disk('vdb', '252:16', serial='disk1')
        self.host.add_disk('vdc', '252:32', serial='disk2')
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.host.disks.BUSY_WAIT', 0))
        self.vdb = os.path.join(self.host.dev_root, 'vdb')

    def resolve(self, selector, value):
        return disks.resolve(self.host, selector, value)


class TestResolve(HostCase):

    def test_serial(self):
        disk = self.resolve('serial', 'disk1')
        self.assertEqual(('vdb', self.vdb, '252:16'),
                         (disk.name, disk.node, disk.dev))

    def test_unknown_serial_lists_the_disks(self):
        err = self.assertRaises(disks.DiskError, self.resolve, 'serial',
                                'disk9')
        self.assertEqual('no disk has serial disk9 (disks seen: vda (root), '
                         'vdb (disk1), vdc (disk2))', str(err))

    def test_two_disks_with_one_serial(self):
        self.host.add_disk('vdd', '252:48', serial='disk1')
        err = self.assertRaises(disks.DiskError, self.resolve, 'serial',
                                'disk1')
        self.assertIn('matches 2 disks (vdb, vdd)', str(err))

    def test_by_id_without_udev(self):
        self.assertEqual('vdc', self.resolve('by-id', 'virtio-disk2').name)

    def test_by_id_link_wins(self):
        self.host.dev_link('disk/by-id/virtio-disk1', 'vdc')
        self.assertEqual('vdc', self.resolve('by-id', 'virtio-disk1').name)

    def test_by_id_names_of_other_buses(self):
        self.host.add_disk('sda', '8:0', **{
            'device/model': 'QEMU HARDDISK',
            'device/wwid': 't10.ATA     QEMU HARDDISK    QM00001'})
        self.host.add_disk('sdb', '8:16', **{
            'device/wwid': 'naa.5000C500A1B2C3D4'})
        self.host.add_disk('nvme0n1', '259:0', **{
            'device/model': 'Samsung SSD 970', 'device/serial': 'S4EV',
            'wwid': 'eui.0025388b91b4ac35'})
        self.assertEqual({'ata-QEMU_HARDDISK_QM00001'},
                         disks.by_id_names(self.host, 'sda'))
        self.assertEqual({'wwn-0x5000c500a1b2c3d4', 'scsi-35000c500a1b2c3d4'},
                         disks.by_id_names(self.host, 'sdb'))
        self.assertEqual({'nvme-Samsung_SSD_970_S4EV',
                          'nvme-eui.0025388b91b4ac35'},
                         disks.by_id_names(self.host, 'nvme0n1'))
        self.assertEqual('sda', self.resolve(
            'by-id', 'ata-QEMU_HARDDISK_QM00001').name)
        self.assertEqual('nvme0n1', self.resolve(
            'by-id', 'nvme-Samsung_SSD_970_S4EV').name)

    def test_wwn_in_any_spelling(self):
        self.host.add_disk('sdb', '8:16', **{
            'device/wwid': 'naa.5000c500a1b2c3d4'})
        self.host.add_disk('nvme0n1', '259:0', wwid='eui.0025388b91b4ac35')
        for value in ('0x5000C500A1B2C3D4', 'wwn-0x5000c500a1b2c3d4',
                      'naa.5000c500a1b2c3d4', '5000c500a1b2c3d4'):
            self.assertEqual('sdb', self.resolve('wwn', value).name, value)
        self.assertEqual('nvme0n1',
                         self.resolve('wwn', 'eui.0025388b91b4ac35').name)

    def test_serial_from_device_and_vpd_page(self):
        self.host.add_disk('nvme0n1', '259:0', **{'device/serial': 'S4EV'})
        self.host.add_disk('sda', '8:0', **{
            'device/vpd_pg80': b'\x00\x80\x00\x08  WD-1234\x00'})
        self.assertEqual('nvme0n1', self.resolve('serial', 'S4EV').name)
        self.assertEqual('sda', self.resolve('serial', 'WD-1234').name)

    def test_by_path_needs_the_link(self):
        err = self.assertRaises(disks.DiskError, self.resolve, 'by-path',
                                'pci-0000:00:05.0')
        self.assertIn('by-path names are links udev makes', str(err))
        self.host.dev_link('disk/by-path/pci-0000:00:05.0', 'vdb')
        self.assertEqual('vdb', self.resolve('by-path',
                                             'pci-0000:00:05.0').name)

    def test_device_path(self):
        link = os.path.join(self.host.root, 'mydisk')
        os.symlink(self.vdb, link)
        disk = self.resolve('device', link)
        self.assertEqual(('vdb', self.vdb), (disk.name, disk.node))

    def test_device_missing_or_not_a_block_device(self):
        missing = os.path.join(self.host.dev_root, 'vdz')
        err = self.assertRaises(disks.DiskError, self.resolve, 'device',
                                missing)
        self.assertEqual('%s does not exist' % missing, str(err))
        plain = self.host.write('image.raw', 'data')
        err = self.assertRaises(disks.DiskError, self.resolve, 'device',
                                plain)
        self.assertEqual('%s is not a block device (it is a regular file)'
                         % plain, str(err))

    def test_device_the_kernel_does_not_list(self):
        node = self.host.node(os.path.join(self.host.root, 'odd'), '9:99')
        err = self.assertRaises(disks.DiskError, self.resolve, 'device',
                                node)
        self.assertIn('is device 9:99, which the kernel does not list', str(
            err))

    def test_sysfs_disk_without_node(self):
        os.unlink(self.vdb)
        del self.host.blocks[self.vdb]
        err = self.assertRaises(disks.DiskError, self.resolve, 'serial',
                                'disk1')
        self.assertIn('the kernel has disk vdb (serial disk1) but there is '
                      'no %s' % self.vdb, str(err))


CONFIG = """
- existing: {name: image0, serial: disk1%s}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: %s
        mkfs: {type: ext4, mount: {mount_point: /, fstab: {}}}
"""


class BuildCase(HostCase):
    """A build of CONFIG on vdb, root faked."""

    wipe = 'superblocks'
    root_size = '100%'

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        self.build = self.useFixture(Build(self.config(), devices=False))
        self.params = config.load_params(self.build.params_path)

    def config(self, extra=None):
        wipe = extra if extra is not None else (
            ', wipe: %s' % self.wipe if self.wipe else '')
        return CONFIG % (wipe, self.root_size)

    def rewrite(self, text):
        with open(self.build.config_path, 'w') as out:
            out.write(text)

    def init(self):
        blockdevice.init(self.params)

    def preflight(self, runner):
        self.init()
        blockdevice.check(self.params, runner)

    def refused(self, runner=None, *expected):
        runner = runner or FakeRunner([])
        self.init()
        err = self.assertRaises(UsageError, blockdevice.create, self.params,
                                runner)
        self.assertEqual(2, err.exit_status)
        for text in expected:
            self.assertIn(text, str(err))
        self.assertIn('nothing was written', str(err))
        self.assertFalse(os.path.exists(os.path.join(
            state_mod.state_dir(self.params['build-dir']), 'state.json')))
        runner.assert_done()
        return str(err)

    def clean(self, *devices):
        return [(WIPEFS + [d], wipefs_json()) for d in devices]


class TestRefusals(BuildCase):

    def test_missing_disk(self):
        self.rewrite(self.config().replace('serial: disk1',
                                           'device: /dev/no-such-disk'))
        self.refused(None, '[0].existing: /dev/no-such-disk does not exist')

    def test_regular_file(self):
        plain = self.host.write('image.raw', 'data')
        self.rewrite(self.config().replace('serial: disk1',
                                           'device: ' + plain))
        self.refused(None, 'is not a block device (it is a regular file)')

    def test_partition(self):
        part = self.host.add_partition('vdb', 1, '252:17')
        self.rewrite(self.config().replace(
            'serial: disk1', 'device: ' + os.path.join(self.host.dev_root,
                                                       part)))
        self.refused(None, 'vdb1 is a partition of vdb: name the whole disk')

    def test_read_only(self):
        self.host.write('sys/class/block/vdb/ro', '1\n')
        self.refused(None, '%s is read-only' % self.vdb)

    def test_mounted_partition(self):
        self.host.add_partition('vdb', 1, '252:17')
        self.host.write('proc/self/mountinfo',
                        '1 0 0:5 / / rw - 9p ROOTFS rw\n'
                        '36 1 252:17 / /mnt/data\\040x rw - ext4 '
                        '/dev/vdb1 rw\n')
        self.host.busy.add(self.vdb)
        err = self.refused(None, 'vdb1 is mounted on /mnt/data x (ext4)',
                           '%s cannot be opened exclusively' % self.vdb)
        self.assertNotIn('root filesystem', err)

    def test_root_filesystem(self):
        self.host.write('proc/self/mountinfo',
                        '1 0 252:16 / / rw - ext4 /dev/vdb rw\n')
        self.refused(None, 'vdb is mounted on / (ext4): it holds the root '
                     'filesystem')

    def test_btrfs_member(self):
        os.makedirs(os.path.join(self.host.sys_root, 'fs', 'btrfs', 'f00d',
                                 'devices', 'vdb'))
        self.refused(None, 'vdb is a device of the mounted btrfs filesystem '
                     'f00d')

    def test_swap(self):
        part = self.host.add_partition('vdb', 2, '252:18')
        self.host.write('proc/swaps', 'Filename Type Size Used Priority\n'
                        '%s partition 1024 0 -2\n'
                        % os.path.join(self.host.dev_root, part))
        self.refused(None, 'vdb2 is in use as swap')

    def test_holders(self):
        self.host.add_partition('vdb', 1, '252:17')
        self.host.add_dm('dm-0', '253:0', 'vg-root', 'LVM-x', over=['vdb1'])
        self.host.add_md('md127', '9:127', over=['vdb'])
        self.refused(None, 'vdb is held by md127 (md array)',
                     'vdb1 is held by dm-0 (device-mapper vg-root)')

    def test_loop_over_the_disk(self):
        self.host.add_loop('loop0', '7:0', self.vdb)
        self.refused(None, 'vdb backs the loop device loop0')

    def test_open_in_another_process(self):
        self.host.add_partition('vdb', 1, '252:17')
        fds = os.path.join(self.host.proc_root, '4242', 'fd')
        os.makedirs(fds)
        os.symlink('/dev/null', os.path.join(fds, '0'))
        os.symlink(os.path.join(self.host.dev_root, 'vdb1'),
                   os.path.join(fds, '3'))
        self.host.write('proc/4242/comm', 'sleep\n')
        self.refused(None, 'vdb1 is open in process 4242 (sleep)')

    def test_exclusive_open_fails(self):
        self.host.busy.add(self.vdb)
        self.refused(None, '%s cannot be opened exclusively: the kernel or '
                     'a program holds it' % self.vdb)

    def test_named_in_host_fstab(self):
        self.host.add_partition('vdb', 1, '252:17')
        self.host.write('etc/fstab', '# UUID=%s / ext4\n'
                        'UUID=%s /data ext4 defaults 0 2\n'
                        % (FS_UUID, FS_UUID.upper()))
        runner = FakeRunner([
            (WIPEFS + [self.vdb], wipefs_json(('gpt', '0x200', None))),
            (WIPEFS + [self.vdb + '1'],
             wipefs_json(('ext4', '0x438', FS_UUID)))])
        self.refused(runner, "etc/fstab names it: 'UUID=%s /data ext4'"
                     % FS_UUID.upper())

    def test_signatures_with_wipe_none(self):
        self.wipe = None
        self.rewrite(self.config())
        self.host.add_partition('vdb', 1, '252:17')
        runner = FakeRunner([
            (WIPEFS + [self.vdb], wipefs_json(('gpt', '0x200', None),
                                              ('PMBR', '0x1fe', None))),
            (WIPEFS + [self.vdb + '1'],
             wipefs_json(('ext4', '0x438', FS_UUID)))])
        err = self.refused(runner, 'is not empty: it carries gpt at 0x200 '
                           'on %s, PMBR at 0x1fe on %s, ext4 at 0x438 on '
                           '%s1' % (self.vdb, self.vdb, self.vdb),
                           'set "wipe: superblocks" to clear')
        self.assertNotIn('in use', err)

    def test_expected_size(self):
        self.rewrite(self.config(', expected-size: 1GiB'))
        err = self.assertRaises(ConfigError, self.init)
        self.assertEqual('[0].existing.expected-size: disk vdb is 2147483648 '
                         'bytes (2 GiB), not the 1073741824 bytes (1 GiB) '
                         'expected', str(err))

    def test_layout_too_big_for_the_real_disk(self):
        self.root_size = '3GiB'
        self.rewrite(self.config())
        err = self.assertRaises(ConfigError, self.init)
        self.assertIn('[1].partitioning.partitions[0]: partition root needs '
                      '3 GiB but only', str(err))
        self.assertIn('(disk 2 GiB, of which the last 2 MiB are kept '
                      'free)', str(err))

    def test_sizes_wait_for_create_when_the_disk_is_missing(self):
        self.rewrite(self.config().replace('serial: disk1', 'serial: later')
                     .replace('100%', '30GiB'))
        self.init()     # nothing to check the layout against yet
        self.host.add_disk('vdd', '252:48', serial='later')
        err = self.assertRaises(ConfigError, blockdevice.create, self.params,
                                FakeRunner([]))
        self.assertIn('partition root needs 30 GiB', str(err))

    def test_same_disk_twice(self):
        self.rewrite('- existing: {name: a, serial: disk1}\n'
                     '- existing: {name: b, device: %s}\n' % self.vdb)
        err = self.assertRaises(ConfigError, self.init)
        self.assertEqual('[1].existing: selects the same disk as a '
                         '([0].existing)', str(err))


class TestCreate(BuildCase):

    def expected(self, wipe, parts=()):
        commands = self.clean(self.vdb, *parts)
        commands += [['wipefs', '--all', p] for p in parts]
        commands.append(['wipefs', '--all', self.vdb])
        if wipe == 'zero-start-end':
            dd = ['dd', 'if=/dev/zero', 'of=' + self.vdb, 'bs=1M', 'count=1',
                  'conv=notrunc,fsync', 'status=none']
            commands += [dd, dd + ['seek=%d' % (2 * GIB - MIB),
                                   'oflag=seek_bytes']]
        return commands

    def create(self, runner):
        # Stop before partitioning: only the disk's own steps are faked.
        self.rewrite('- existing: {name: image0, serial: disk1, wipe: %s}\n'
                     % self.wipe)
        self.init()
        blockdevice.create(self.params, runner)
        runner.assert_done()
        return state_mod.State.load(
            state_mod.state_dir(self.params['build-dir']))

    def test_wipe_command_lists(self):
        self.assertEqual([], existing.wipe_argv('/dev/vdb', [], 'none', GIB))
        self.assertEqual([['wipefs', '--all', '/dev/vdb1'],
                          ['wipefs', '--all', '/dev/vdb']],
                         existing.wipe_argv('/dev/vdb', ['/dev/vdb1'],
                                            'superblocks', GIB))
        self.assertEqual(
            ['dd', 'if=/dev/zero', 'of=/dev/vdb', 'bs=1M', 'count=1',
             'conv=notrunc,fsync', 'status=none', 'seek=%d' % (GIB - MIB),
             'oflag=seek_bytes'],
            existing.wipe_argv('/dev/vdb', [], 'zero-start-end', GIB)[-1])

    def test_superblocks_and_stale_partitions(self):
        parts = [os.path.join(self.host.dev_root, self.host.add_partition(
            'vdb', n, '252:%d' % (16 + n))) for n in (1, 2)]
        state = self.create(FakeRunner(self.expected('superblocks', parts)))
        self.assertEqual([self.vdb], self.host.rereads)
        self.assertEqual([], disks.partitions(self.host, 'vdb'))
        self.assertEqual({'device': self.vdb, 'size': 2 * GIB,
                          'sector_size': 512, 'disk': 'vdb'},
                         state.results('image0'))
        # The disk is claimed, and nothing else is held: no image file.
        self.assertEqual([('claim', 'disk', self.vdb)],
                         [(e['kind'], e['args']['claim'], e['args']['name'])
                          for e in state.journal])

    def test_partitions_the_reread_missed(self):
        self.host.add_partition('vdb', 1, '252:17')
        self.host.reread_partitions = lambda path: None
        expected = self.expected('superblocks', [self.vdb + '1'])

        class Runner(FakeRunner):
            def run(inner, argv, **kwargs):
                if argv[:2] == ['partx', '--delete']:
                    self.host.remove_partitions('vdb')
                return FakeRunner.run(inner, argv, **kwargs)
        self.create(Runner(expected + [['partx', '--delete', self.vdb]]))

    def test_zero_start_end(self):
        self.wipe = 'zero-start-end'
        self.create(FakeRunner(self.expected('zero-start-end')))

    def test_wipe_none_writes_nothing(self):
        self.wipe = 'none'
        state = self.create(FakeRunner(self.clean(self.vdb)))
        self.assertEqual('/dev/vdb', '/dev/' + state.results('image0')[
            'disk'])

    def test_getval_and_delete_keep_the_disk(self):
        self.create(FakeRunner(self.expected('superblocks')))
        self.assertEqual('', getval(self.params['build-dir'], 'image-path'))
        self.assertEqual(self.vdb, getval(self.params['build-dir'],
                                          'image-block-device'))
        self.assertEqual(' [image0]=%s ' % self.vdb, getval(
            self.params['build-dir'], 'image-block-devices'))
        teardown.teardown(self.params, FakeRunner([]), 'delete')
        self.assertTrue(os.path.exists(self.vdb))
        self.assertFalse(os.path.exists(state_mod.state_dir(
            self.params['build-dir'])))

    def test_plan_uses_the_real_size(self):
        self.host.add_disk('sdx', '8:96', size=64 * MIB, sector=4096,
                           serial='small')
        self.rewrite((CONFIG % ('', '100%')).replace('disk1', 'small'))
        nodes = config.build(config.read_config(self.params), self.params)
        planned = blockdevice.plan(self.params, nodes)
        self.assertEqual({'size': 64 * MIB, 'sector_size': 4096,
                          'zeroed': False}, planned['image0'].to_json())
        self.assertEqual(False, planned['root'].zeroed)
        recording = blockdevice.record(self.params, nodes, planned)
        self.assertEqual([('disk', os.path.join(self.host.dev_root, 'sdx'))],
                         [(kind, name) for _, kind, name in recording.claims])

    def test_a_second_build_cannot_claim_the_disk(self):
        self.create(FakeRunner(self.expected('superblocks')))
        other = self.useFixture(Build(
            '- existing: {name: image0, device: %s, wipe: superblocks}\n'
            % self.vdb, devices=False))
        params = config.load_params(other.params_path)
        blockdevice.init(params)
        err = self.assertRaises(UsageError, blockdevice.create, params,
                                FakeRunner(self.clean(self.vdb)))
        self.assertIn('disk %s is in use by the build whose state is'
                      % self.vdb, str(err))


class TestCheck(BuildCase):

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        status = cli.main(['--params', self.build.params_path] + list(args))
        return status, out.getvalue(), err.getvalue()

    def test_check_passes_and_writes_nothing(self):
        self.assertEqual(0, self.run_cli('init')[0])
        runner = FakeRunner(self.clean(self.vdb))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.runner.Runner',
            lambda: runner))
        folder = state_mod.state_dir(self.params['build-dir'])
        before = sorted(os.listdir(folder))
        status, out, err = self.run_cli('create', '--check')
        self.assertEqual(0, status, err)
        self.assertIn('checked: 6 nodes loaded, host tools present, sizes '
                      'planned, preflight passed\n', out)
        self.assertIn('checked: [0].existing (image0): %s (serial disk1): '
                      '2 GiB, 512-byte sectors, 0 partition(s)' % self.vdb,
                      out)
        self.assertIn('signatures: none', out)
        self.assertEqual(before, sorted(os.listdir(folder)))
        runner.assert_done()

    def test_check_refuses_with_status_2(self):
        self.assertEqual(0, self.run_cli('init')[0])
        self.host.busy.add(self.vdb)
        status, out, err = self.run_cli('create', '--check')
        self.assertEqual(2, status)
        self.assertIn('cannot be opened exclusively', err)
        self.assertEqual('', out)
        self.assertFalse(os.path.exists(os.path.join(
            state_mod.state_dir(self.params['build-dir']), 'state.json')))


class TestConfigErrors(HostCase):

    CASES = [
        ('{name: d}', "[0].existing: name the disk with exactly one of "
         "device, by-id, by-path, serial, wwn; got none"),
        ('{name: d, serial: a, device: /dev/vdb}', '[0].existing: name the '
         'disk with exactly one of device, by-id, by-path, serial, wwn; got '
         'device and serial'),
        ('{name: d, serial: 1234}', '[0].existing.serial: YAML read this as '
         'the number 1234: put the value in quotes'),
        ('{name: d, wwn: 0x5000c500a1b2c3d4}', '[0].existing.wwn: YAML read '
         'this as the number'),
        ('{name: d, serial: ""}', '[0].existing.serial: must not be empty'),
        ('{name: d, device: dev/vdb}', "[0].existing.device: expected an "
         "absolute path such as /dev/vdb, got 'dev/vdb'"),
        ('{name: d, by-id: /dev/disk/by-path/x}', '[0].existing.by-id: '
         'expected a name in /dev/disk/by-id/ such as virtio-disk1'),
        ('{name: d, serial: a, wipe: all}', "[0].existing.wipe: expected one "
         "of 'none', 'superblocks', 'zero-start-end', got 'all'"),
        ('{name: d, serial: a, expected-size: big}',
         "[0].existing.expected-size: 'big' is not a size"),
        ('{name: d, serial: a, size: 1G}', "[0].existing: unknown option "
         "'size'"),
        ('{serial: a}', "[0].existing: 'name' is required but missing"),
        ('{name: d, serial: [a]}', '[0].existing.serial: expected a string '
         'or a whole number, got a list'),
    ]

    def test_each_error(self):
        for options, expected in self.CASES:
            build = self.useFixture(Build('- existing: %s\n' % options,
                                          devices=False))
            stderr = io.StringIO()
            self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
            status = cli.main(['--params', build.params_path, 'init'])
            err = stderr.getvalue()
            self.assertEqual(2, status, options)
            self.assertIn(expected, err, options)
            self.assertEqual(1, len([line for line in err.splitlines()
                                     if 'error:' in line]), err)
            self.assertNotIn('Traceback', err)
            self.assertFalse(os.path.exists(build.build_dir), options)
