"""The crypt plugin with a fake runner: commands, key handling, errors."""
import json
import os

import fixtures
import yaml

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import config
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import crypt
from diskimage_builder.block_device.tests.support.compat import PARAMS
from diskimage_builder.block_device.tests.support.fakehost import \
    FakeHostFixture
from diskimage_builder.block_device.tests.support.fakehost import FakeKernel
from diskimage_builder.block_device.tests.support.fakes import KEY
from diskimage_builder.block_device.tests.support.fakes import LUKS_UUID
from diskimage_builder.block_device.tests.support.fakes import FakeRunner
from diskimage_builder.block_device.tests.support.fakes import \
    RecordingRunner
from diskimage_builder.block_device.tests.support.fakes import blkid
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import ValidationCases

FS_UUID = '0e5d5f5a-2b1c-4c5e-9a57-3c2f1f7b6a10'

CONFIG = """
- local_loop: {name: image0, size: 64MiB}
- crypt:
    base: image0
    name: cryptroot
    passphrase-env: DIB_TEST_LUKS_KEY
    pbkdf: {type: pbkdf2, iterations: 1000}
    label: root
    options: luks,discard
    mkfs:
      name: mkfs_root
      type: ext4
      mount: {mount_point: /, fstab: {spec: uuid}}
"""


class TestArgv(TestCase):

    def test_format_table(self):
        table = [
            ({}, ['cryptsetup', 'luksFormat', '--batch-mode', '--type',
                  'luks2', '--key-file', '-', '/d']),
            ({'type': 'luks1', 'cipher': 'aes-cbc-essiv:sha256',
              'key-size': 256},
             ['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks1',
              '--cipher', 'aes-cbc-essiv:sha256', '--key-size', '256',
              '--key-file', '-', '/d']),
            ({'pbkdf': {'type': 'argon2id', 'iterations': 4,
                        'memory': 32768, 'parallel': 1},
              'label': 'root', 'uuid': LUKS_UUID},
             ['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks2',
              '--pbkdf', 'argon2id', '--pbkdf-force-iterations', '4',
              '--pbkdf-memory', '32768', '--pbkdf-parallel', '1',
              '--label', 'root', '--uuid', LUKS_UUID, '--key-file', '-',
              '/d']),
            ({'pbkdf': {'type': 'pbkdf2', 'iter-time': 100}},
             ['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks2',
              '--pbkdf', 'pbkdf2', '--iter-time', '100', '--key-file', '-',
              '/d']),
        ]
        for options, argv in table:
            self.assertEqual(argv, crypt.format_argv(options, '/d'))
        self.assertEqual(['cryptsetup', 'open', '--type', 'luks1',
                          '--key-file', '-', '/d', 'c'],
                         crypt.open_argv('luks1', '/d', 'c'))

    def test_crypttab_line(self):
        self.assertEqual('c UUID=%s none luks' % LUKS_UUID,
                         crypt.crypttab_line('c', LUKS_UUID, {}))
        self.assertEqual('c UUID=%s /etc/k luks,discard' % LUKS_UUID,
                         crypt.crypttab_line('c', LUKS_UUID, {
                             'options': 'luks,discard',
                             'crypttab-key': '/etc/k'}))


class TestCreate(TestCase):
    """The golden command list, and where the key goes (stdin only)."""

    def setUp(self):
        super().setUp()
        self.build = self.useFixture(Build(CONFIG, devices=False))
        self.useFixture(fixtures.EnvironmentVariable('DIB_TEST_LUKS_KEY',
                                                     KEY))
        self.host = self.useFixture(FakeHostFixture()).host
        self.kernel = FakeKernel(self.host)
        self.loop = os.path.join(self.host.dev_root, 'loop1')
        self.mapped = os.path.join(self.host.dev_root, 'mapper', 'cryptroot')
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.tools.check',
            lambda names: None))
        self.params = config.load_params(self.build.params_path)
        blockdevice.init(self.params)
        self.image = os.path.join(self.build.image_dir, 'image0.raw')
        self.target = self.build.mount_base

    def expected(self):
        mapped, loop = self.mapped, self.loop
        return [
            (['losetup', '--find', '--show', '--partscan', self.image],
             loop + '\n'),
            (['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks2',
              '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000',
              '--label', 'root', '--key-file', '-', loop], ''),
            (['cryptsetup', 'luksUUID', loop], LUKS_UUID + '\n'),
            (['cryptsetup', 'open', '--type', 'luks2', '--key-file', '-',
              loop, 'cryptroot'], ''),
            (['mkfs.ext4', '-F', '-q', '-L', 'cloudimg-rootfs', mapped], ''),
            (['blkid', '-p', '-o', 'export', mapped],
             blkid(mapped, 'ext4', 'cloudimg-rootfs', FS_UUID)),
            (['mount', '-t', 'ext4', mapped, self.target], ''),
        ]

    def create(self, runner):
        blockdevice.create(self.params, runner)

    def state_folder(self):
        return state_mod.state_dir(self.params['build-dir'])

    def test_golden_commands_and_results(self):
        runner = RecordingRunner(self.expected(), self.kernel)
        self.create(runner)
        runner.assert_done()
        state = state_mod.State.load(self.state_folder())
        self.assertEqual({
            'device': self.mapped, 'luks_device': self.loop,
            'uuid': LUKS_UUID, 'luks_type': 'luks2',
            'crypttab': 'cryptroot UUID=%s none luks,discard' % LUKS_UUID,
        }, state.results('cryptroot'))
        self.assertEqual(
            [('image-file', self.image), ('loop', self.image),
             ('luks-mapping', 'cryptroot'), ('mount', self.target)],
            [(e['kind'], e['args'].get('path') or e['args'].get('file') or
              e['args'].get('name') or e['args'].get('target'))
             for e in state.journal if e['kind'] != 'claim'])
        mapping = [e['args'] for e in state.journal
                   if e['kind'] == 'luks-mapping'][0]
        self.assertEqual(LUKS_UUID, mapping['uuid'])
        self.assertEqual(
            [('image', self.image), ('mapper', 'cryptroot')],
            [(e['args']['claim'], e['args']['name']) for e in state.journal
             if e['kind'] == 'claim'])
        for argv, stdin, env in runner.calls:
            if argv[0] == 'cryptsetup':
                self.assertEqual({'DM_DISABLE_UDEV': '1'}, env, argv)

    def test_key_goes_on_stdin_and_nowhere_else(self):
        runner = RecordingRunner(self.expected(), self.kernel)
        self.create(runner)
        blockdevice.write_fstab(self.params)
        secret = KEY.strip()
        keyed = [argv[1] for argv, stdin, _ in runner.calls if stdin]
        self.assertEqual(['luksFormat', 'open'], keyed)
        for argv, stdin, _ in runner.calls:
            self.assertNotIn(secret, ' '.join(argv))
            if stdin:
                # exactly the variable's bytes: cryptsetup reads a key
                # file on stdin to its end, newline included
                self.assertEqual(KEY.encode(), stdin)
        for name in os.listdir(self.state_folder()):
            path = os.path.join(self.state_folder(), name)
            if os.path.isfile(path):
                with open(path) as src:
                    self.assertNotIn(secret, src.read(), name)
        with open(os.path.join(self.state_folder(), 'config.json')) as src:
            nodes = json.load(src)['nodes']
        options = [n['options'] for n in nodes if n['plugin'] == 'crypt'][0]
        self.assertEqual('DIB_TEST_LUKS_KEY', options['passphrase-env'])
        with open(os.path.join(self.build.build_dir, 'built', 'etc',
                               'crypttab')) as src:
            self.assertEqual('cryptroot UUID=%s none luks,discard\n'
                             % LUKS_UUID, src.read())

    def test_key_file(self):
        key_file = os.path.join(self.build.root, 'key')
        with open(key_file, 'wb') as out:
            out.write(b'\x00binary\nkey\xff')
        with open(self.build.config_path, 'w') as out:
            out.write(CONFIG.replace('passphrase-env: DIB_TEST_LUKS_KEY',
                                     'key-file: ' + key_file))
        blockdevice.init(self.params)
        runner = RecordingRunner(self.expected(), self.kernel)
        self.create(runner)
        self.assertEqual([b'\x00binary\nkey\xff'] * 2,
                         [stdin for _, stdin, _ in runner.calls if stdin])

    def test_a_failure_later_closes_the_mapping(self):
        expected = self.expected()
        expected[4] = (expected[4][0], 'mkfs.ext4: invalid option', 1)
        runner = RecordingRunner(expected[:5] + [
            ['cryptsetup', 'close', 'cryptroot'],
            ['losetup', '--detach', self.loop]], self.kernel)
        err = self.assertRaises(Exception, self.create, runner)
        self.assertIn('mkfs.ext4', str(err))
        self.assertNotIn(KEY.strip(), str(err))
        runner.assert_done()
        state = state_mod.State.load(self.state_folder())
        self.assertEqual([], state.journal)
        self.assertFalse(os.path.exists(self.image))

    def test_preflight_refuses_a_taken_mapper_name(self):
        self.host.add_dm('dm-9', '253:9', 'cryptroot', 'CRYPT-LUKS2-x')
        runner = FakeRunner([])
        err = self.assertRaises(UsageError, blockdevice.create, self.params,
                                runner)
        self.assertIn('[1].crypt: a device-mapper device cryptroot already '
                      'exists', str(err))
        self.assertEqual(2, err.exit_status)
        self.assertFalse(os.path.exists(self.image))

    def test_preflight_refuses_a_missing_key(self):
        self.useFixture(fixtures.EnvironmentVariable('DIB_TEST_LUKS_KEY'))
        err = self.assertRaises(UsageError, blockdevice.create, self.params,
                                FakeRunner([]))
        self.assertIn('[1].crypt.passphrase-env: the environment variable '
                      'DIB_TEST_LUKS_KEY is not set', str(err))
        self.assertFalse(os.path.exists(self.image))


class TestRelease(TestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(FakeHostFixture()).host
        self.host.add_disk('vdb', '252:16')
        self.host.add_dm('dm-2', '253:2', 'c1', 'CRYPT-LUKS2-%s-c1'
                         % LUKS_UUID.replace('-', ''), over=['vdb'])

    def entry(self, **args):
        return {'kind': 'luks-mapping', 'node': 'c1', 'plugin': 'crypt',
                'args': dict({'name': 'c1', 'uuid': LUKS_UUID}, **args)}

    def test_close_only_what_is_open(self):
        runner = RecordingRunner([['cryptsetup', 'close', 'c1']],
                                 FakeKernel(self.host))
        resources.release(resources.Scope(runner), self.entry())
        resources.release(resources.Scope(runner), self.entry())
        runner.assert_done()
        self.assertEqual({'DM_DISABLE_UDEV': '1'}, runner.calls[0][2])

    def test_a_mapping_of_another_container_is_left_alone(self):
        err = self.assertRaises(
            resources.NotOurs, resources.release,
            resources.Scope(FakeRunner([])),
            self.entry(uuid='11111111-2222-4333-8444-555555555555'))
        self.assertIn('is not the LUKS container', str(err))
        self.assertIn('c1', self.host.dm_devices())

    def test_busy_mapping_names_its_holders(self):
        self.host.add_dm('dm-5', '253:5', 'vg-lv', 'LVM-x', over=['dm-2'])
        runner = FakeRunner([(['cryptsetup', 'close', 'c1'],
                              'Device c1 is still in use.', 5)])
        err = self.assertRaises(resources.ReleaseError, resources.release,
                                resources.Scope(runner), self.entry())
        self.assertIn('cannot close LUKS mapping c1: Device c1 is still in '
                      'use.; held by: dm-5', str(err))

    def test_mapper_node_made_from_sysfs_without_udev(self):
        journaled = []
        path = crypt.mapper_node(self.host, 'c1', on_create=lambda p, d:
                                 journaled.append((p, d)))
        self.assertEqual(os.path.join(self.host.dev_root, 'mapper', 'c1'),
                         path)
        self.assertEqual('253:2', self.host.devnum(path))
        self.assertEqual([(path, '253:2')], journaled)
        self.assertRaises(Exception, crypt.mapper_node, self.host, 'nosuch')


class TestPlan(TestCase):

    def test_child_size_is_base_minus_header(self):
        for luks_type, header in (('luks2', 16), ('luks1', 2)):
            nodes = config.build(yaml.safe_load(
                CONFIG.replace('label: root', 'type: ' + luks_type)),
                PARAMS)
            planned = blockdevice.plan(PARAMS, nodes)
            self.assertEqual((64 - header) << 20,
                             planned['cryptroot'].size)

    def test_too_small_base(self):
        nodes = config.build(yaml.safe_load(
            CONFIG.replace('64MiB', '16MiB')), PARAMS)
        err = self.assertRaises(ConfigError, blockdevice.plan,
                                PARAMS, nodes)
        self.assertIn('[1].crypt: base image0 is 16777216 bytes: a luks2 '
                      'header alone takes 16 MiB', str(err))


class TestValidationErrors(ValidationCases):
    """Each bad crypt config, and a good one."""

    def test_each_error(self):
        self.check_each_error()

    BASE = '- local_loop: {name: a}\n- crypt: {base: a, name: c, %s}'
    KEYED = 'passphrase-env: K, '
    CASES = [
        (BASE % 'type: luks2', '[1].crypt: no key: set passphrase-env'),
        (BASE % 'passphrase-env: K, key-file: /k',
         '[1].crypt: key-file and passphrase-env exclude each other'),
        (BASE % 'key-file: keys/root',
         "[1].crypt.key-file: expected an absolute path, got 'keys/root'"),
        (BASE % 'passphrase: hunter2',
         "[1].crypt: unknown option 'passphrase', did you mean "
         "'passphrase-env'?"),
        (BASE % (KEYED + 'type: luks3'),
         "[1].crypt.type: expected one of 'luks2', 'luks1', got 'luks3'"),
        (BASE % 'passphrase-env: "my var"',
         '[1].crypt.passphrase-env: expected the NAME of an environment '
         'variable holding the passphrase (letters, digits, _), never the '
         'passphrase itself\n'),
        (BASE % (KEYED + 'type: luks1, label: x'),
         '[1].crypt.label: LUKS1 has no label'),
        (BASE % (KEYED + 'type: luks1, pbkdf: {type: argon2id}'),
         "[1].crypt.pbkdf.type: LUKS1 takes only pbkdf2, got 'argon2id'"),
        (BASE % (KEYED + 'pbkdf: {type: pbkdf2, iterations: 10}'),
         '[1].crypt.pbkdf.iterations: pbkdf2 needs at least 1000'),
        (BASE % (KEYED + 'pbkdf: {type: pbkdf2, memory: 1024}'),
         '[1].crypt.pbkdf.memory: applies to argon2i and argon2id only'),
        (BASE % (KEYED + 'pbkdf: {type: argon2id, threads: 2}'),
         "[1].crypt.pbkdf: unknown option 'threads'"),
        (BASE % (KEYED + 'pbkdf: {iterations: 1000}'),
         "[1].crypt.pbkdf: 'type' is required but missing"),
        (BASE % (KEYED + 'key-size: 255'), '[1].crypt.key-size'),
        (BASE % (KEYED + 'uuid: not-a-uuid'), '[1].crypt.uuid'),
        (BASE % (KEYED + 'options: "luks, discard"'),
         "[1].crypt.options: expected crypttab options, comma-separated "
         "with no spaces, got 'luks, discard'"),
        (BASE % (KEYED + 'cipher: "aes xts"'), '[1].crypt.cipher: expected '
         'a cipher spec'),
        ('- local_loop: {name: a}\n- crypt: {base: a, passphrase-env: K, '
         'mkfs: {type: ext4}}\n'
         '- crypt: {base: mkfs_crypt_a, name: c2, passphrase-env: K}',
         '[2].crypt.base: crypt needs a block device as base; mkfs_crypt_a '
         'is a filesystem (a mkfs node)'),
        ('- local_loop: {name: a}\n'
         '- crypt: {base: b, name: c, passphrase-env: K}',
         "[1].crypt.base: base 'b' names no node"),
    ]

    def test_good_config(self):
        status, err, build = self.run_init(CONFIG)
        self.assertEqual(0, status, err)
