"""dm-verity with a fake runner: the hash tree's size and commands, the
order its release comes in, the root hash in the state and getval, the
veritytab line, verity and LUKS both ways, the refusals."""
import os

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import config
from diskimage_builder.block_device import context
from diskimage_builder.block_device import getval
from diskimage_builder.block_device import offline
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import veritytree
from diskimage_builder.block_device.level2 import mkfs
from diskimage_builder.block_device.repro import Repro
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

DATA_PART = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'
VERITY_UUID = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'
SALT = 'ab' * 32
ROOT_HASH = '45d65d6f9e5a962f4d80b5f1bd7a918152251c27bdad8c5f52b590c129833372'
FORMAT_OUT = ('VERITY header information for /dev/loop0p3\nUUID:  \t%s\n'
              'Root hash:      \t%s\n' % (VERITY_UUID, ROOT_HASH))

CONFIG = """
- local_loop: {name: image0, size: 256MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: usr_data
        size: 96MiB
        part-uuid: %s
        verity:
          name: usr
          hash: usr_hash
          options: x-initrd.attach
          uuid: %s
          salt: %s
          mkfs: {type: ext4, label: usr, mount: {mount_point: /usr,
                                                 fstab: {}}}
      - name: usr_hash
        size: 8MiB
      - name: root
        size: 64MiB
        mkfs: {name: mkfs_root, type: ext4, mount: {mount_point: /,
                                                    fstab: {}}}
""" % (DATA_PART, VERITY_UUID, SALT)

# LUKS over verity, then verity over LUKS (each on its own partitions).
LUKS_BOTH_WAYS = """
- local_loop: {name: image0, size: 512MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: a, size: 96MiB}
      - {name: a_hash, size: 8MiB}
      - {name: b, size: 96MiB}
      - {name: b_hash, size: 8MiB}
- verity:
    name: va
    base: a
    hash: a_hash
    crypt:
      name: ca
      key-file: /k
      mkfs: {type: ext4, mount: {mount_point: /a, fstab: {}}}
- crypt:
    name: cb
    base: b
    key-file: /k
    verity:
      name: vb
      hash: b_hash
      mkfs: {type: ext4, mount: {mount_point: /b, fstab: {}}}
"""


def build(text, **params):
    return config.build(yaml.safe_load(text), dict(PARAMS, **params))


class TestTree(TestCase):

    def test_hash_tree_sizes_as_veritysetup_gives_them(self):
        # (data bytes, hash, data block, hash block): the "Hash device
        # size" veritysetup 2.6.1 printed for each.
        table = [((64 << 20, 'sha256', 4096, 4096), 532480),
                 ((1 << 30, 'sha256', 4096, 4096), 8462336),
                 ((100 << 20, 'sha512', 4096, 4096), 1675264),
                 ((10 << 20, 'sha1', 1024, 512), 350720),
                 ((4096, 'sha256', 4096, 4096), 4096),
                 ((1 << 30, 'sha256', 512, 512), 71583744),
                 ((3 << 20, 'sha256', 4096, 1024), 26624)]
        for args, size in table:
            self.assertEqual(size, veritytree.hash_tree_bytes(*args), args)

    def test_commands(self):
        args = {'algorithm': 'sha512', 'data_block': 1024,
                'hash_block': 4096, 'salt': '-', 'uuid': VERITY_UUID}
        self.assertEqual(
            ['veritysetup', 'format', '--hash', 'sha512',
             '--data-block-size', '1024', '--hash-block-size', '4096',
             '--salt', '-', '--uuid', VERITY_UUID, '/d', '/h'],
            veritytree.format_argv(args, '/d', '/h'))
        self.assertEqual(
            ['openssl', 'cms', '-sign', '-binary', '-noattr', '-signer',
             '/c.pem', '-inkey', '/k.pem', '-outform', 'PEM'],
            veritytree.sign_argv({'key-file': '/k.pem',
                                  'certificate': '/c.pem'}))
        self.assertEqual('QUJD\nREVG'.replace('\n', ''), veritytree.pem_body(
            '-----BEGIN CMS-----\nQUJD\nREVG\n-----END CMS-----\n'))

    def test_veritytab_merge(self):
        text = 'data /a /b 00 auto\nusr /old /old 11\n# kept\n'
        self.assertEqual('data /a /b 00 auto\n# kept\nusr X Y 22 opt\n',
                         veritytree.merged(text, 'usr', 'usr X Y 22 opt'))
        self.assertEqual('usr X Y 22\n', veritytree.merged('', 'usr',
                                                           'usr X Y 22'))

    def test_seeded_salt_and_uuid(self):
        nodes = {n.name: n for n in build(CONFIG.replace(
            'salt: %s' % SALT, '').replace('uuid: %s' % VERITY_UUID, ''))}
        one = nodes['usr'].settings(Repro(seed='s'))
        self.assertEqual(one, nodes['usr'].settings(Repro(seed='s')))
        self.assertEqual(64, len(one['salt']))
        self.assertNotEqual(one, nodes['usr'].settings(Repro(seed='t')))


class TestGraph(TestCase):

    def test_created_after_the_mount_of_root(self):
        names = [n.name for n in build(CONFIG)]
        self.assertLess(names.index('mount_mkfs_root'), names.index('usr'))
        values = config.summary(build(CONFIG), PARAMS)
        self.assertEqual((['usr'], ''), (values['verity'],
                                         values['verity-root']))

    def test_root_on_verity_is_the_verity_root(self):
        nodes = build(CONFIG.replace('mount_point: /usr', 'mount_point: /x')
                      .replace('mount_point: /,', 'mount_point: /root,')
                      .replace('/x', '/'))
        self.assertEqual('usr', config.summary(nodes, PARAMS)['verity-root'])

    def test_lines_in_the_plan(self):
        nodes = build(CONFIG)
        rec = blockdevice.record(PARAMS, nodes,
                                 blockdevice.plan(PARAMS, nodes))
        self.assertEqual('/dev/mapper/usr /usr ext4 ro 0 0',
                         rec.recorded['fstab_mount_mkfs_usr']['fstab'])
        self.assertEqual('usr PARTUUID=%s UUID=%s <roothash of usr> '
                         'x-initrd.attach' % (DATA_PART, VERITY_UUID),
                         rec.recorded['usr']['veritytab'])
        # the tree is made at umount: create runs no veritysetup
        self.assertEqual([], [c for c in rec.commands
                              if c['argv'][0] == 'veritysetup'])

    def test_data_on_an_lv_is_named_by_its_path(self):
        nodes = build("""
- local_loop: {name: image0, size: 512MiB}
- lvm:
    pvs: [{name: pv, base: image0}]
    vgs: [{name: vg, base: pv}]
    lvs: [{name: usr, base: vg, size: 128MiB},
          {name: usr_hash, base: vg, size: 8MiB}]
- verity:
    name: vusr
    base: usr
    hash: usr_hash
    mkfs: {type: ext4, mount: {mount_point: /usr}}
""")
        rec = blockdevice.record(PARAMS, nodes,
                                 blockdevice.plan(PARAMS, nodes))
        self.assertTrue(rec.recorded['vusr']['veritytab'].startswith(
            'vusr /dev/vg/usr UUID='))
        self.assertIn('[2].verity: verity needs the kernel path',
                      offline.refusals(nodes)[-1])

    def test_filesystems_get_the_sectors_they_are_read_with(self):
        nodes = build(LUKS_BOTH_WAYS)
        rec = blockdevice.record(PARAMS, nodes,
                                 blockdevice.plan(PARAMS, nodes))
        made = {c['node']: c['argv'] for c in rec.commands
                if c['argv'][0].startswith('mkfs')}
        # through LUKS on verity too: the container's sectors are those
        # of the verity device below it at boot
        for name in ('mkfs_ca', 'mkfs_vb'):
            self.assertEqual(['-b', '4096'], made[name][3:5], made[name])
        table = {'ext4': ['-b', '4096'], 'xfs': ['-s', 'size=4096'],
                 'vfat': ['-S', '4096'], 'btrfs': ['--sectorsize', '4096'],
                 'swap': []}
        for fstype, args in table.items():
            argv = mkfs.mkfs_argv(fstype, '/d', sector=4096)
            self.assertEqual(mkfs.mkfs_argv(fstype, '/d'), [
                arg for arg in argv if arg not in args], fstype)
            self.assertEqual(args, [arg for arg in argv if arg in args])

    def test_luks_both_ways(self):
        nodes = build(LUKS_BOTH_WAYS)
        rec = blockdevice.record(PARAMS, nodes,
                                 blockdevice.plan(PARAMS, nodes))
        # LUKS over verity: opened on the verity device, read-only
        self.assertEqual('ca /dev/mapper/va none luks,readonly',
                         rec.recorded['ca']['crypttab'])
        # verity over LUKS: the data device is the open container
        self.assertIn('vb /dev/mapper/cb UUID=',
                      rec.recorded['vb']['veritytab'])
        self.assertIn('cb UUID=<LUKS UUID of cb> none luks',
                      rec.recorded['cb']['crypttab'])
        lines = {name: rec.recorded[name]['fstab'] for name in rec.recorded
                 if 'fstab' in rec.recorded[name]}
        self.assertEqual('LABEL=mkfs_ca /a ext4 ro 0 0',
                         lines['fstab_mount_mkfs_ca'])
        self.assertEqual('/dev/mapper/vb /b ext4 ro 0 0',
                         lines['fstab_mount_mkfs_vb'])


class TestValidation(ValidationCases):

    def test_errors_name_the_yaml_path(self):
        part = '[1].partitioning.partitions[0].verity'
        cases = [
            (CONFIG.replace('hash: usr_hash', 'hash: usr_data'),
             part + '.hash: the hash tree needs a device of its own'),
            (CONFIG.replace('size: 8MiB', 'size: 1MiB').replace(
                'size: 96MiB', 'size: 200MiB').replace('256MiB', '512MiB'),
             part + '.hash: the hash tree of usr_data (209715200 bytes, '
             'sha256) takes 1662976 bytes; usr_hash is 1048576 bytes'),
            (CONFIG.replace('salt: %s' % SALT, 'salt: abc'),
             part + ".salt: 'abc' is not allowed here: expected hex "
             "digits"),
            (CONFIG.replace('uuid: %s' % VERITY_UUID, 'uuid: nope'),
             part + ".uuid: 'nope'"),
            (CONFIG.replace('name: usr\n', 'name: control\n'),
             part + ".name: 'control' is device-mapper's"),
            (CONFIG.replace('options: x-initrd.attach',
                            'signature: {key-file: k, certificate: /c}'),
             part + ".signature.key-file: 'k' is not allowed here: "
             "expected an absolute path"),
            (CONFIG.replace('fstab: {}}}', 'fstab: {spec: uuid}}}', 1),
             part + '.mkfs.mount.fstab.spec: UUID= would also find the '
             'unchecked data device below usr'),
            (CONFIG.replace('data-block', 'x') + """
- verity: {name: whole, base: image1, hash: image2}
- local_loop: {name: image1, size: 8MiB}
- local_loop: {name: image2, size: 8MiB}
""", '[2].verity.base: the booted system finds the data device by '
             'PARTUUID'),
            (CONFIG.replace('options: x-initrd.attach', 'hashes: 1'),
             part + ": unknown option 'hashes'"),
            (CONFIG.replace('size: 8MiB', 'size: 8MiB\n        mkfs: '
                            '{type: ext4}'),
             part + '.hash: usr_hash, a block device, is already used by '
             'mkfs_usr_hash'),
        ]
        for text, expected in cases:
            status, err, build_ = self.run_init(text, **{'image-size':
                                                         '512MiB'})
            self.check_rejected(status, err, build_, text)
            self.assertIn(expected, err, text)


class VerityOnFakeHost(TestCase):
    """create of the nodes above the partitions (their results recorded
    as partitioning would), then umount, on the fake host."""

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.params = dict(PARAMS, **{'build-dir': self.root + '/build',
                                      'image-dir': self.root + '/images',
                                      'mount-base': self.root + '/mnt'})
        self.folder = state_mod.state_dir(self.params['build-dir'])
        os.makedirs(self.folder, mode=0o700)
        os.makedirs(self.params['image-dir'])
        self.host = self.useFixture(FakeHostFixture()).host
        self.kernel = FakeKernel(self.host)
        self.host.add_disk('loop0', '7:0')
        for number in (1, 2, 3):
            self.host.add_partition('loop0', number, '259:%d' % number)
        self.mnt = self.params['mount-base']

    def dev(self, name):
        return os.path.join(self.host.dev_root, name)

    def setup_build(self, text=CONFIG):
        self.nodes = build(text, **self.params)
        state_mod.write_json(os.path.join(self.folder, 'config.json'), {
            'version': state_mod.FORMAT_VERSION, 'params': self.params,
            'nodes': [n.to_json() for n in self.nodes], 'plugins': {},
            'values': config.summary(self.nodes, self.params)})
        self.state = state_mod.State(self.folder)
        self.state.record('image0', device=self.dev('loop0'))
        for number, name in enumerate(('usr_data', 'usr_hash', 'root'), 1):
            self.state.record(name, device=self.dev('loop0p%d' % number),
                              partuuid=DATA_PART if number == 1 else 'p')

    def create_commands(self):
        root, data = self.dev('loop0p3'), self.dev('loop0p1')
        ext4 = ['mkfs.ext4', '-F', '-q', '-E',
                'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '-L']
        return [(ext4 + ['cloudimg-rootfs', root], ''),
                (['blkid', '-p', '-o', 'export', root],
                 blkid(root, 'ext4', 'cloudimg-rootfs', 'u1')),
                ['mount', '-t', 'ext4', root, self.mnt],
                # read through dm-verity at boot: blocks of its 4096
                (ext4[:-1] + ['-b', '4096', '-L', 'usr', data], ''),
                (['blkid', '-p', '-o', 'export', data],
                 blkid(data, 'ext4', 'usr', 'u2')),
                ['mount', '-t', 'ext4', data, self.mnt + '/usr']]

    def create(self, runner):
        ctx = context.RealContext(runner, self.state, self.params,
                                  self.nodes,
                                  blockdevice.plan(self.params, self.nodes))
        skip = ('image0', 'table:image0', 'usr_data', 'usr_hash', 'root')
        for node in self.nodes:
            if node.name not in skip:
                node.create(ctx)
        self.state.save()

    def umount(self, commands):
        runner = FakeRunner(commands, self.kernel.effects())
        scope = teardown.scope_of(runner, state_mod.load_config(
            self.folder), self.folder)
        failures = teardown.release_journal(scope, self.state,
                                            teardown.RELEASED_BY['umount'])
        runner.assert_done()
        return failures

    def format_command(self):
        return (veritytree.format_argv(
            {'algorithm': 'sha256', 'data_block': 4096, 'hash_block': 4096,
             'salt': SALT, 'uuid': VERITY_UUID}, self.dev('loop0p1'),
            self.dev('loop0p2')), FORMAT_OUT)


class TestSeal(VerityOnFakeHost):

    def test_the_tree_comes_after_the_unmount_of_its_data(self):
        self.setup_build()
        self.create(FakeRunner(self.create_commands(),
                               self.kernel.effects()))
        self.assertEqual(['mount', 'verity-hash', 'mount'],
                         [e['kind'] for e in self.state.journal])
        os.makedirs(self.mnt + '/etc')
        with open(self.mnt + '/etc/veritytab', 'w') as out:
            out.write('usr stale line\nother /a /b cd\n')
        self.assertEqual([], self.umount(
            unmount_commands(self.mnt + '/usr') + [self.format_command()] +
            unmount_commands(self.mnt)))
        line = 'usr PARTUUID=%s UUID=%s %s x-initrd.attach' % (
            DATA_PART, VERITY_UUID, ROOT_HASH)
        self.assertEqual({'roothash': ROOT_HASH, 'veritytab': line},
                         {k: v for k, v in self.state.results('usr').items()
                          if k in ('roothash', 'veritytab')})
        with open(self.mnt + '/etc/veritytab') as src:
            self.assertEqual('other /a /b cd\n' + line + '\n', src.read())
        self.assertEqual(ROOT_HASH, getval.getval(self.params['build-dir'],
                                                  'verity-roothash'))
        self.assertEqual(ROOT_HASH, getval.getval(self.params['build-dir'],
                                                  'verity-roothash:usr'))
        err = self.assertRaises(UsageError, getval.getval,
                                self.params['build-dir'],
                                'verity-roothash:root')
        self.assertIn('root is not a verity node (verity nodes: usr)',
                      str(err))
        blockdevice.write_fstab(self.params)
        with open(self.params['build-dir'] + '/built/etc/veritytab') as src:
            self.assertEqual(line + '\n', src.read())

    def test_signed(self):
        key, cert = self.root + '/key.pem', self.root + '/cert.pem'
        self.setup_build(CONFIG.replace(
            'options: x-initrd.attach', 'signature: {key-file: %s, '
            'certificate: %s}' % (key, cert)))
        self.create(FakeRunner(self.create_commands(),
                               self.kernel.effects()))
        pem = '-----BEGIN CMS-----\nMIIB\nAAAA\n-----END CMS-----\n'
        self.assertEqual([], self.umount(
            unmount_commands(self.mnt + '/usr') + [self.format_command()] +
            [(veritytree.sign_argv({'key-file': key, 'certificate': cert}),
              pem)] + unmount_commands(self.mnt)))
        results = self.state.results('usr')
        self.assertEqual('MIIBAAAA', results['roothash_signature'])
        self.assertTrue(results['veritytab'].endswith(
            ' %s root-hash-signature=base64:MIIBAAAA' % ROOT_HASH))
        self.assertEqual('MIIBAAAA', getval.getval(
            self.params['build-dir'], 'verity-roothash-signature'))

    def test_undo_makes_no_tree(self):
        self.setup_build()
        commands = self.create_commands()
        commands[3] = (commands[3][0], 'mkfs.ext4: no', 1)
        runner = FakeRunner(commands[:4], self.kernel.effects())
        self.assertRaises(Exception, self.create, runner)
        scope = teardown.scope_of(FakeRunner(
            unmount_commands(self.mnt), self.kernel.effects()),
            state_mod.load_config(self.folder), self.folder)
        teardown.undo(scope, self.state)
        self.assertEqual([], self.state.journal)
        self.assertNotIn('roothash', self.state.results('usr'))
        self.assertEqual('', getval.getval(self.params['build-dir'],
                                           'verity-roothash'))

    def test_a_data_device_gone_is_reported(self):
        self.setup_build()
        self.create(FakeRunner(self.create_commands(),
                               self.kernel.effects()))
        self.host.remove_device('loop0p1')
        failures = self.umount(unmount_commands(self.mnt + '/usr') +
                               unmount_commands(self.mnt))
        self.assertEqual(1, len(failures))
        self.assertIn('verity-hash of node usr left alone: the data device '
                      '%s is gone: the hash tree of usr is not computed'
                      % self.dev('loop0p1'), failures[0])

    def test_a_loop_partition_is_known_by_its_image_and_number(self):
        image = self.root + '/images/image0.raw'
        with open(image, 'w'):
            pass
        self.host.add_loop('loop4', '7:4', image, partitions=(1, 2))
        self.host.loop_files['loop0'] = (1, 2)
        first = self.host.device_identity(self.dev('loop4p2'))
        info = os.stat(image)
        self.assertEqual({'file': [info.st_dev, info.st_ino],
                          'partition': 2}, first)
        # udev re-reads the table: new device numbers, same partition
        self.host.remove_partitions('loop4')
        self.host.add_partition('loop4', 2, '259:99')
        self.assertEqual(first,
                         self.host.device_identity(self.dev('loop4p2')))
        self.assertNotEqual(first,
                            self.host.device_identity(self.dev('loop0p2')))
        self.assertEqual({'devnum': '7:4'},
                         self.host.device_identity(self.dev('loop4')))

    def test_an_edited_entry_runs_nothing(self):
        args = {'name': 'usr', 'algorithm': 'sha256; rm', 'data_block': 4096,
                'hash_block': 4096, 'salt': SALT, 'uuid': VERITY_UUID}
        err = self.assertRaises(
            resources.NotOurs, resources.release,
            resources.Scope(FakeRunner([])), {
                'kind': 'verity-hash', 'node': 'usr', 'plugin': 'verity',
                'args': args})
        self.assertIn('not what create wrote', str(err))
