"""``crypt``: a LUKS container on a block device, opened for its children.

Its options are described in :attr:`Crypt.SCHEMA` (and the README's table,
made from it).  The key is read when ``create`` runs, from the environment
variable or the file, and handed to cryptsetup on stdin (``--key-file -``,
read to the end, newlines included); it never appears in an argv, a log
line, ``config.json`` or ``state.json``, which hold only the variable name
or the file path.  ``writefstab`` writes a crypttab line with the LUKS
UUID (``<name> UUID=<uuid> <crypttab-key> <options>``).

No udev is needed or waited for: every cryptsetup call gets
``DM_DISABLE_UDEV=1``, so libdevmapper creates and removes
/dev/mapper/<name> itself; if no node appears anyway (a static /dev), it
is made from sysfs and journaled.  A mapping with the same name already
on the host is refused before anything is created.

Host tools: cryptsetup (package cryptsetup-bin).
"""
import os
import re

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import resources
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.runner import CommandError

MIB = 1 << 20
# libdevmapper makes and removes the /dev/mapper node itself and never
# waits on a udev cookie (which would hang where no udev runs).
DM_ENV = {'DM_DISABLE_UDEV': '1'}
# Where cryptsetup puts the data by default on a device without I/O
# topology hints (loop devices, most disks): after the 16 MiB LUKS2
# header (metadata and keyslot areas), or the 2 MiB LUKS1 one.
HEADER_BYTES = {'luks2': 16 * MIB, 'luks1': 2 * MIB}
UUID_PATTERN = ('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
# cryptsetup's own bounds (cryptsetup-luksFormat(8), PBKDF costs).
MIN_ITERATIONS = {'pbkdf2': 1000, 'argon2i': 4, 'argon2id': 4}

# Options that are single words, checked here rather than by a schema
# pattern so the error says what the word should look like.
WORDS = {
    'passphrase-env': (r'^[A-Za-z_][A-Za-z0-9_]*\Z',
                       'the NAME of an environment variable holding the '
                       'passphrase (letters, digits, _), never the '
                       'passphrase itself'),
    'cipher': (r'^[A-Za-z0-9_:-]+\Z', 'a cipher spec such as '
               'aes-xts-plain64'),
    'label': (r'^\S+\Z', 'a label without spaces'),
    'options': (r'^\S+\Z', 'crypttab options, comma-separated with no '
                'spaces'),
    'crypttab-key': (r'^\S+\Z', 'a key file path or none, without '
                     'spaces'),
}

PBKDF_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['type'],
    'properties': {
        'type': {'enum': ['pbkdf2', 'argon2i', 'argon2id'], 'description':
                 'Required: ``pbkdf2`` (the only one LUKS1 takes), '
                 '``argon2i`` or ``argon2id``.'},
        'iterations': {'type': 'integer', 'minimum': 1,
                       'maximum': 4294967295, 'description':
                       'A fixed cost instead of cryptsetup\'s benchmark: '
                       'at least %s.' % ', '.join(
                           '%d for %s' % (count, kdf)
                           for kdf, count in MIN_ITERATIONS.items())},
        'memory': {'type': 'integer', 'minimum': 32, 'maximum': 4194304,
                   'x-expected': 'argon2 memory cost in KiB, 32 to '
                                 '4194304',
                   'description': 'The argon2 memory cost in KiB, 32 to '
                                  '4194304 (not for pbkdf2).'},
        'parallel': {'type': 'integer', 'minimum': 1, 'maximum': 4,
                     'x-expected': 'argon2 threads, 1 to 4',
                     'description': 'The argon2 threads, 1 to 4 (not for '
                                    'pbkdf2).'},
        'iter-time': {'type': 'integer', 'minimum': 1, 'description':
                      'The milliseconds cryptsetup\'s benchmark aims '
                      'at.'},
    },
}


def format_argv(options, device):
    """``cryptsetup luksFormat`` for *options*: pure, tested by value.
    The key comes on stdin."""
    argv = ['cryptsetup', 'luksFormat', '--batch-mode', '--type',
            options.get('type', 'luks2')]
    for key, flag in (('cipher', '--cipher'), ('key-size', '--key-size')):
        if key in options:
            argv += [flag, str(options[key])]
    pbkdf = options.get('pbkdf', {})
    for key, flag in (('type', '--pbkdf'),
                      ('iterations', '--pbkdf-force-iterations'),
                      ('memory', '--pbkdf-memory'),
                      ('parallel', '--pbkdf-parallel'),
                      ('iter-time', '--iter-time')):
        if key in pbkdf:
            argv += [flag, str(pbkdf[key])]
    for key, flag in (('label', '--label'), ('uuid', '--uuid')):
        if key in options:
            argv += [flag, options[key]]
    return argv + ['--key-file', '-', device]


def open_argv(luks_type, device, name):
    return ['cryptsetup', 'open', '--type', luks_type, '--key-file', '-',
            device, name]


def uuid_argv(device):
    return ['cryptsetup', 'luksUUID', device]


def crypttab_line(name, luks_uuid, options, source=None):
    """The crypttab line; *source* names the container instead of its
    UUID when the UUID would find another device too (LUKS on dm-verity:
    the verity device and its data device hold the same header)."""
    return '%s %s %s %s' % (name, source or 'UUID=%s' % luks_uuid,
                            options.get('crypttab-key', 'none'),
                            options.get('options', 'luks'))


def readonly(options):
    """crypttab *options* with ``readonly``: a container on dm-verity,
    which is read-only, opens read-only or not at all."""
    words = options.split(',')
    return options if {'readonly', 'read-only'} & set(words) else \
        options + ',readonly'


# -- what the kernel holds --------------------------------------------------

def mapper_node(host, name, on_create=None):
    """``/dev/mapper/<name>``, made from sysfs if libdevmapper made none
    (a /dev that is no devtmpfs and has no udev)."""
    path = os.path.join(host.dev_root, 'mapper', name)
    if host.is_block_device(path):
        return path
    dm = host.dm_devices().get(name)
    if dm is None or not dm.devnum:
        raise BlockDeviceError('cryptsetup opened %s but the kernel lists no '
                               'device-mapper device of that name' % name)
    if on_create:
        on_create(path, dm.devnum)
    host.make_node(path, dm.devnum, mode=0o600)
    return path


def is_mapping_of(dm_uuid, luks_uuid):
    """Whether the dm device of *dm_uuid* is the open LUKS container
    *luks_uuid*: cryptsetup names it CRYPT-LUKS<v>-<uuid, no dashes>-..."""
    return bool(luks_uuid) and dm_uuid.startswith('CRYPT-LUKS') and \
        luks_uuid.replace('-', '').lower() in dm_uuid.lower()


@resources.releaser('luks-mapping', tools=('cryptsetup',), by_name=True)
def release_mapping(scope, args):
    name = args['name']
    dm = scope.host.dm_devices().get(name)
    if dm is None:
        return
    if not scope.from_system and not is_mapping_of(dm.uuid,
                                                   args.get('uuid')):
        raise resources.NotOurs('device-mapper device %s (%s) is not the '
                                'LUKS container %s this build opened'
                                % (name, dm.uuid, args.get('uuid')))
    try:
        scope.runner.run(['cryptsetup', 'close', name], env=DM_ENV)
    except CommandError as err:
        if name not in scope.host.dm_devices():
            return
        held = scope.host.holders(dm.kname)
        raise resources.ReleaseError('cannot close LUKS mapping %s: %s%s' % (
            name, err.output.strip() or err,
            '; held by: ' + ', '.join(held) if held else ''))


# -- the node -----------------------------------------------------------------

class CryptNode(plugin.Node):
    """A LUKS header on the base device and its open mapping."""
    kind = 'crypt'
    needs_kernel = 'device-mapper (dm-crypt)'
    provides = frozenset([plugin.BLOCK_DEVICE])
    accepts = (plugin.BLOCK_DEVICE,)

    @property
    def luks_type(self):
        return self.options.get('type', 'luks2')

    def identifiers(self):
        # A LUKS UUID is in /dev/disk/by-uuid beside the filesystems'; the
        # mapping is in /dev/mapper beside the LVs'.
        found = [('device-mapper name', self.name, self.path + '.name')]
        if self.options.get('uuid'):
            found.append(('filesystem UUID', self.options['uuid'].lower(),
                          self.path + '.uuid'))
        return found

    def plan(self, pctx):
        base = pctx.of(self.deps[0])
        if base.size is None:
            return
        header = HEADER_BYTES[self.luks_type]
        if base.size < header + MIB:
            raise ConfigError(self.path, 'base %s is %d bytes: a %s header '
                              'alone takes %d MiB, and at least 1 MiB must '
                              'be left for data' % (self.deps[0], base.size,
                                                    self.luks_type,
                                                    header // MIB))
        pctx.set(self, size=base.size - header)

    def check(self, ctx):
        if self.name in ctx.host.dm_devices() or os.path.lexists(
                os.path.join(ctx.host.dev_root, 'mapper', self.name)):
            raise UsageError('%s: a device-mapper device %s already exists '
                             'on this host: close it (cryptsetup close %s) '
                             'or release the build that left it '
                             '(dib-block-device cleanup)'
                             % (self.path, self.name, self.name))
        self.key()
        source = self.options.get('passphrase-env')
        return ['%s: no device-mapper device named %s; the key (%s) is '
                'readable' % (self.path, self.name, 'from $' + source
                              if source else self.options['key-file'])]

    def key(self):
        """The key bytes, from the variable or file the config names."""
        var = self.options.get('passphrase-env')
        if var is not None:
            value = os.environ.get(var)
            if not value:
                raise UsageError('%s.passphrase-env: the environment '
                                 'variable %s is %s' % (
                                     self.path, var,
                                     'empty' if value == '' else 'not set'))
            return value.encode()
        path = self.options['key-file']
        try:
            with open(path, 'rb') as src:
                data = src.read()
        except OSError as err:
            raise UsageError('%s.key-file: cannot read %s: %s'
                             % (self.path, path, err.strerror))
        if not data:
            raise UsageError('%s.key-file: %s is empty' % (self.path, path))
        return data

    def create(self, ctx):
        ctx.claim(self, 'mapper', self.name)
        device = ctx.device(self.deps[0])
        key = ctx.secret(self.key)
        ctx.run(format_argv(self.options, device), stdin=key, env=DM_ENV)
        luks_uuid = ctx.known(ctx.run(uuid_argv(device), env=DM_ENV)
                              .stdout.strip(), 'LUKS UUID of %s' % self.name)
        ctx.hold(self, 'luks-mapping', name=self.name, uuid=luks_uuid)
        ctx.run(open_argv(self.luks_type, device, self.name), stdin=key,
                env=DM_ENV)
        mapped = mapper_node(ctx.host, self.name, on_create=lambda path, dev:
                             ctx.hold(self, 'device-node', path=path,
                                      devnum=dev))
        ctx.record(self, device=mapped, luks_device=device, uuid=luks_uuid,
                   luks_type=self.luks_type,
                   crypttab=self.crypttab(ctx, luks_uuid))

    def crypttab(self, ctx, luks_uuid):
        base = ctx.nodes[self.deps[0]]
        if plugin.VERITY not in base.provides:
            return crypttab_line(self.name, luks_uuid, self.options)
        # The verity device and the data device below it hold the same
        # LUKS header: UUID= could find the unchecked one.
        options = dict(self.options, options=readonly(
            self.options.get('options', 'luks')))
        return crypttab_line(self.name, luks_uuid, options,
                             base.facts['boot_device'])


class Crypt(plugin.Plugin):
    SCHEMA = {
        'description': 'A LUKS container on ``base``, formatted and opened '
                       'as ``/dev/mapper/<name>`` for its children; closed '
                       'at ``umount``.  Its key comes from exactly one of '
                       '``passphrase-env`` and ``key-file``.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name'],
        'properties': {
            'name': plugin.documented(
                plugin.NAME_SCHEMA, 'The mapping name, '
                '``/dev/mapper/<name>`` (not ``control``).  Default '
                '``crypt_<base>``.'),
            'base': plugin.documented(
                plugin.BASE_SCHEMA, 'The block device: a partition, disk, '
                'md array or LV.'),
            'type': {'enum': ['luks2', 'luks1'], 'description':
                     '``luks2`` (default) or ``luks1``.'},
            'cipher': {'type': 'string', 'description':
                       'A cipher spec such as ``aes-xts-plain64``.  '
                       'Default: cryptsetup\'s.'},
            'key-size': {'type': 'integer', 'minimum': 8,
                         'multipleOf': 8, 'description':
                         'The key size in bits, a multiple of 8.  '
                         'Default: cryptsetup\'s.'},
            'key-file': {'type': 'string', 'minLength': 1, 'description':
                         'The absolute path of a file holding the key, '
                         'read at ``create``.'},
            'passphrase-env': {'type': 'string', 'description':
                               'The name of the environment variable that '
                               'holds the passphrase at ``create`` '
                               '(letters, digits, ``_``), never the '
                               'passphrase itself.'},
            'pbkdf': dict(PBKDF_SCHEMA, description=(
                'How the key is stretched.  Default: what cryptsetup\'s '
                'benchmark picks; fixed ``iterations`` make it cheap in '
                'CI.')),
            'label': {'type': 'string', 'minLength': 1, 'maxLength': 47,
                      'description': 'The LUKS2 label (LUKS1 has none): at '
                      'most 47 characters, no spaces.'},
            'uuid': {'type': 'string', 'pattern': UUID_PATTERN,
                     'description': 'The LUKS UUID, unique.  Default: '
                     'random.'},
            'options': {'type': 'string', 'description':
                        'The crypttab options, comma-separated, no '
                        'spaces.  Default ``luks``.'},
            'crypttab-key': {'type': 'string', 'description':
                             'The crypttab key field: a key file in the '
                             'booted system, or ``none`` (default: ask at '
                             'boot).'},
        },
    }
    NODE_TYPES = (CryptNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        if options['name'] == 'control':
            raise ConfigError(path + '.name', "'control' is device-mapper's "
                              "own /dev/mapper/control: choose another "
                              "mapping name")
        for key, (pattern, what) in WORDS.items():
            if key in options and not re.match(pattern, options[key]):
                # A passphrase put here by mistake is not echoed.
                got = ('' if key == 'passphrase-env'
                       else ', got %r' % options[key])
                raise ConfigError('%s.%s' % (path, key), 'expected %s%s'
                                  % (what, got))
        _check_key_source(options, path)
        _check_luks_options(options, path)
        return [CryptNode(plugin_name, options['name'], path,
                          [options['base']], options,
                          {'boot_device': '/dev/mapper/' + options['name']})]


def _check_key_source(options, path):
    sources = [key for key in ('key-file', 'passphrase-env')
               if key in options]
    if not sources:
        raise ConfigError(path, 'no key: set passphrase-env (the name of '
                          'an environment variable holding the passphrase) '
                          'or key-file (an absolute path)')
    if len(sources) > 1:
        raise ConfigError(path, 'key-file and passphrase-env exclude each '
                          'other: set one of them')
    if 'key-file' in options and not os.path.isabs(options['key-file']):
        raise ConfigError(path + '.key-file', 'expected an absolute path, '
                          'got %r' % options['key-file'])


def _check_luks_options(options, path):
    luks_type = options.get('type', 'luks2')
    pbkdf = options.get('pbkdf', {})
    kdf = pbkdf.get('type')
    if luks_type == 'luks1':
        if 'label' in options:
            raise ConfigError(path + '.label', 'LUKS1 has no label; use '
                              'type luks2')
        if kdf not in (None, 'pbkdf2'):
            raise ConfigError(path + '.pbkdf.type', 'LUKS1 takes only '
                              'pbkdf2, got %r' % kdf)
    if kdf == 'pbkdf2':
        for key in ('memory', 'parallel'):
            if key in pbkdf:
                raise ConfigError('%s.pbkdf.%s' % (path, key), 'applies to '
                                  'argon2i and argon2id only, not pbkdf2')
    if 'iterations' in pbkdf and pbkdf['iterations'] < MIN_ITERATIONS[kdf]:
        raise ConfigError(path + '.pbkdf.iterations', '%s needs at least %d '
                          'iterations, got %d' % (kdf, MIN_ITERATIONS[kdf],
                                                  pbkdf['iterations']))
