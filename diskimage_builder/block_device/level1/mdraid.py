"""``mdraid``: a Linux software RAID (md) array over several devices.

Its options (and the members each level needs) are described in
:attr:`Mdraid.SCHEMA` and the README's table made from it.

Names: the superblock stores ``<homehost>:<name>``.  The default homehost
``any`` is mdadm's wild card: the booted system assembles the array as
/dev/md/<name> whatever its host name, with or without the mdadm.conf
line that ``writefstab`` writes beside the fstab
(``ARRAY /dev/md/<name> metadata=1.2 UUID=... name=any:<name>``).

Resync: a fresh image holds no data, so for mirrors (levels 1 and 10)
over members known to read as zeros (new sparse images) ``--assume-clean``
is the default: they are identical already, and the build is not slowed
down by a resync competing with it.  On existing disks the first sync
runs.  Parity levels (5, 6) default to a normal
initial sync, since their parity is only right after one (or on members
known to be zeros: set ``assume-clean: true`` yourself then); a resync
cut short by ``umount`` resumes when the image next assembles.

Isolation from the build host: every mdadm call gets ``--config=none``
where it reads a config (so the host's mdadm.conf neither shapes nor
names the array) and ``MDADM_NO_UDEV=1`` (mdadm makes /dev/md/<name>
itself and waits for no udev).  mdadm writes no config file; it only
keeps its runtime map in /run/mdadm.  An array of the same name already
running on the host is refused before anything is created.  At umount
the array is found by its members in sysfs (``/sys/block/md*/slaves``),
not by a recorded device number, and stopped; where a udev runs whose
rules re-assemble md members (Debian's 64-md-raid-assembly.rules reacts
to the close that ``mdadm --stop`` causes), the stop waits for udev and
stops whatever came back.

Host tools: mdadm; udevadm only where a udev daemon runs.
"""
import os

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import mdraidkernel as kernel

MIB = 1 << 20
LEVELS = (0, 1, 5, 6, 10, 'linear')
# Active members each level needs (mdadm wants --force for fewer).
MIN_MEMBERS = {0: 2, 1: 2, 5: 3, 6: 4, 10: 2, 'linear': 2}
STRIPED = (0, 5, 6, 10)
MIRRORED = (1, 10)
METADATA = ('1.0', '1.1', '1.2')
UUID_PATTERN = ('^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|'
                '[0-9a-fA-F]{8}(:[0-9a-fA-F]{8}){3})$')
# A v1 superblock keeps "<homehost>:<name>" in 32 bytes with its NUL;
# mdadm silently drops the homehost from a longer one.
SET_NAME_MAX = 31


def create_argv(link, name, options, members, zeroed=True):
    """``mdadm --create`` for *options*: pure, tested by value."""
    level = options['level']
    spares = options.get('spares', 0)
    argv = ['mdadm', '--create', link, '--config=none',
            '--run', '--level=%s' % level,
            '--raid-devices=%d' % (len(members) - spares)]
    if spares:
        argv.append('--spare-devices=%d' % spares)
    argv += ['--metadata=%s' % metadata(options), '--name=%s' % name,
             '--homehost=%s' % options.get('homehost', 'any')]
    if 'chunk' in options:
        argv.append('--chunk=%dK' % (sizes.parse_size(options['chunk'])
                                     // 1024))
    if 'uuid' in options:
        argv.append('--uuid=%s' % options['uuid'])
    if assume_clean(options, zeroed):
        argv.append('--assume-clean')
    return argv + list(members)


def metadata(options):
    # YAML reads 1.2 unquoted as a number: str() gives the same text.
    return str(options.get('metadata', '1.2'))


def assume_clean(options, zeroed=True):
    """Mirrors of members known to read as zeros are in sync already; on
    anything else (an existing disk) the first sync really is needed."""
    level = options['level']
    if level in (0, 'linear'):
        return False
    return options.get('assume-clean', level in MIRRORED and zeroed)


def mdadm_conf_line(name, detail, spares):
    line = 'ARRAY %s metadata=%s UUID=%s name=%s' % (
        os.path.join(kernel.MD_DIR, name), detail['MD_METADATA'],
        detail['MD_UUID'], detail['MD_NAME'])
    return line + (' spares=%d' % spares if spares else '')


def data_bytes(member_size, metadata_version):
    """A lower bound of the data area mdadm leaves on a member.

    mdadm reserves room for the superblock, bad-block log and bitmap, and
    (1.1 and 1.2) reshape headroom of about 0.1% of the device, at most
    128 MiB, rounded to 1 MiB; exact figures vary with the mdadm version.
    """
    reserve = min(128 * MIB, member_size // 1000) + MIB
    reserve = -(-reserve // MIB) * MIB
    if metadata_version == '1.0':
        reserve = MIB
    return max(0, member_size - reserve) // (64 * 1024) * (64 * 1024)


def array_bytes(level, data, active, chunk):
    if level in STRIPED:
        data -= data % chunk
    if level == 'linear' or level == 0:
        return data * active
    return {1: data, 5: data * (active - 1), 6: data * (active - 2),
            10: data * active // 2 // chunk * chunk}[level]


# -- the node -----------------------------------------------------------------

class MdraidNode(plugin.Node):
    """An md array over the base devices, running until umount."""
    kind = 'mdraid'
    needs_kernel = "the kernel's md driver"
    provides = frozenset([plugin.BLOCK_DEVICE])
    accepts = (plugin.BLOCK_DEVICE,)

    @property
    def raid_level(self):
        # Not "level": Node.level says which nodes provide a disk.
        return self.options['level']

    def identifiers(self):
        # Two arrays of one UUID: the booted system assembles one of them.
        md_uuid = self.options.get('uuid')
        return [('md array UUID', kernel.md_uuid_hex(md_uuid),
                 self.path + '.uuid')] if md_uuid else []

    def plan(self, pctx):
        members = [pctx.of(name) for name in self.deps]
        if any(m.size is None for m in members):
            return
        active = len(self.deps) - self.options.get('spares', 0)
        data = min(data_bytes(m.size, metadata(self.options))
                   for m in members)
        chunk = sizes.parse_size(self.options.get('chunk', '512KiB'))
        size = array_bytes(self.raid_level, data, active, chunk)
        if size < MIB:
            raise ConfigError(self.path + '.base', 'the members are too '
                              'small for an md array: %d bytes of data '
                              'each at most' % data)
        pctx.set(self, size=size,
                 sector_size=max(m.sector_size for m in members),
                 zeroed=all(m.zeroed for m in members))

    def check(self, ctx):
        host = ctx.host
        link = kernel.md_link(host, self.name)
        clash = None
        if os.path.exists(link) and kernel.running_state(
                host, host.kernel_name(link)) not in (None, 'clear'):
            clash = host.kernel_name(link)
        elif self.name in kernel.scan_names(ctx.run(
                kernel.SCAN_ARGV, env=kernel.MD_ENV, check=False,
                when='md arrays run on the host and none is at /dev/md/%s'
                % self.name, needed=lambda: kernel.running_arrays(host))):
            clash = 'an array named %s' % self.name
        if clash:
            raise UsageError('%s: an md array named %s is already running '
                             'on this host (%s): stop it (mdadm --stop) or '
                             'release the build that left it '
                             '(dib-block-device cleanup)'
                             % (self.path, self.name, clash))
        return ['%s: no md array named %s running' % (self.path, self.name)]

    def create(self, ctx):
        ctx.claim(self, 'md', self.name)
        members = [ctx.device(name) for name in self.deps]
        entry = ctx.hold(self, 'md-array', name=self.name,
                         members=[ctx.host.kernel_name(m) for m in members],
                         devnums=[ctx.host.devnum(m) for m in members],
                         ids=[ctx.host.device_identity(m) for m in members])
        link = kernel.md_link(ctx.host, self.name)
        ctx.run(create_argv(link, self.name, self.options, members,
                            ctx.plan_of(self.name).zeroed), env=kernel.MD_ENV)
        detail = kernel.parse_export(ctx.run(kernel.detail_argv(link),
                                             env=kernel.MD_ENV).stdout)
        detail = {key: ctx.known(detail.get(key), '%s mdadm --detail gave '
                                 'of %s' % (key, link))
                  for key in ('MD_UUID', 'MD_METADATA', 'MD_NAME')}
        ctx.update(entry, uuid=detail['MD_UUID'])
        ctx.record(self, device=os.path.realpath(link), link=link,
                   uuid=detail['MD_UUID'], md_name=detail['MD_NAME'],
                   level=str(self.raid_level), members=members,
                   **{'mdadm.conf': mdadm_conf_line(
                       self.name, detail, self.options.get('spares', 0))})


def _level_description():
    """The levels and the active members each needs, from
    :data:`MIN_MEMBERS`."""
    needs = {}
    for level, count in MIN_MEMBERS.items():
        needs.setdefault(count, []).append(str(level))
    return ('Required, one of %s.  Active members (``base`` less '
            '``spares``): at least %s.' % (
                ', '.join('``%s``' % level for level in LEVELS),
                '; '.join('%d for %s' % (count, _and(levels))
                          for count, levels in needs.items())))


def _and(words):
    return ' and '.join([', '.join(words[:-1]), words[-1]] if len(words) > 1
                        else words)


class Mdraid(plugin.Plugin):
    SCHEMA = {
        'description': 'A Linux software RAID array ``/dev/md/<name>`` over '
                       'several devices; stopped at ``umount``.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['name', 'base', 'level'],
        'properties': {
            'name': plugin.documented(
                plugin.NAME_SCHEMA, 'Required.  The array name, '
                '``/dev/md/<name>``; ``<homehost>:<name>`` takes at most '
                '%d characters.' % SET_NAME_MAX),
            'base': {'type': 'array', 'items': plugin.BASE_SCHEMA,
                     'minItems': 1, 'uniqueItems': True,
                     'x-expected': 'a list of the member devices\' node '
                                   'names, each once',
                     'description': 'Required: the members, a list of '
                                    'partitions or whole disks, each once '
                                    '(two ``local_loop`` images work: '
                                    '``[image0, image1]``).'},
            'level': {'enum': list(LEVELS), 'description':
                      _level_description()},
            'metadata': {'type': ['string', 'number'], 'description':
                         'The superblock format: ``\'1.2\'`` (default), '
                         '``\'1.1\'`` or ``\'1.0\'`` (at the end of the '
                         'members).  Quote it in YAML.'},
            'spares': {'type': 'integer', 'minimum': 0, 'description':
                       'The last N of ``base`` become hot spares (levels '
                       'with redundancy only).  Default 0.'},
            'chunk': {'type': ['string', 'integer'], 'description':
                      'The chunk size of levels 0, 5, 6 and 10: a multiple '
                      'of 4 KiB, a power of two but on level 0.  Default: '
                      'mdadm\'s.'},
            'homehost': {'type': 'string', 'pattern': '^[A-Za-z0-9_.-]+$',
                         'x-expected': 'a host name of letters, digits '
                                       'and _ . - (default: any)',
                         'description': 'The host name in the superblock: '
                                        'letters, digits and ``_ . -``.  '
                                        'Default ``any``, so the array '
                                        'assembles as ``/dev/md/<name>`` '
                                        'on any host.'},
            'uuid': {'type': 'string', 'pattern': UUID_PATTERN,
                     'description': 'The array UUID, as a UUID or as '
                     'mdadm writes it (``xxxxxxxx:xxxxxxxx:xxxxxxxx:'
                     'xxxxxxxx``), unique.  Default: random.'},
            'assume-clean': {'type': 'boolean', 'description':
                             'Skip the first resync.  Default: true for '
                             'levels 1 and 10 on members that read as '
                             'zeros (new images), else false (levels 5 '
                             'and 6 need it for their parity); not for '
                             'levels 0 and linear.'},
        },
    }
    NODE_TYPES = (MdraidNode,)

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        _check_members(options, path)
        _check_geometry(options, path)
        return [MdraidNode(plugin_name, options['name'], path,
                           list(options['base']), options,
                           {'level': str(options['level']),
                            'boot_device': '/dev/md/' + options['name']})]


def _check_members(options, path):
    level = options['level']
    spares = options.get('spares', 0)
    active = len(options['base']) - spares
    if spares and level in (0, 'linear'):
        raise ConfigError(path + '.spares', 'level %s has no redundancy '
                          'and takes no spares' % level)
    if active < MIN_MEMBERS[level]:
        raise ConfigError(path + '.base', 'level %s needs at least %d '
                          'active members, got %d (%d in base%s)' % (
                              level, MIN_MEMBERS[level], active,
                              len(options['base']),
                              ' minus %d spares' % spares if spares else ''))


def _check_geometry(options, path):
    level = options['level']
    if metadata(options) not in METADATA:
        raise ConfigError(path + '.metadata', 'expected one of %s (quote it '
                          'in YAML), got %r' % (', '.join(METADATA),
                                                options['metadata']))
    name = '%s:%s' % (options.get('homehost', 'any'), options['name'])
    if len(name) > SET_NAME_MAX:
        raise ConfigError(path + '.name', '"%s" is %d characters; the md '
                          'superblock holds homehost:name in at most %d'
                          % (name, len(name), SET_NAME_MAX))
    if 'assume-clean' in options and level in (0, 'linear'):
        raise ConfigError(path + '.assume-clean', 'level %s has nothing to '
                          'resync' % level)
    if 'chunk' in options:
        if level not in STRIPED:
            raise ConfigError(path + '.chunk', 'level %s has no chunks (only '
                              'levels 0, 5, 6 and 10 do)' % level)
        chunk = sizes.parse_size_at(options['chunk'], path + '.chunk')
        if chunk < 4096 or chunk % 4096 or (
                level != 0 and chunk & (chunk - 1)):
            raise ConfigError(path + '.chunk', 'expected a %smultiple of 4 '
                              'KiB such as 512KiB, got %d bytes' % (
                                  'power of two ' if level != 0 else '',
                                  chunk))
