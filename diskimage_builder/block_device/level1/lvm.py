"""``lvm``: physical volumes, volume groups and logical volumes.

    - lvm:
        name: lvm                 # optional; not a node children can use
        base: mbr                 # optional, ignored (as diskimage-builder)
        pvs:
          - name: pv              # a node name, used by vgs[].base
            base: root            # a block device node (partition, disk)
            options: [--force]    # extra pvcreate arguments
        vgs:
          - name: vg              # the VG name in the image, as configured
            base: [pv]            # one or more pvs[].name
            options: [--force]    # extra vgcreate arguments (-s 8M...)
        lvs:
          - name: lv_root         # the LV name; mkfs nodes use it as base
            base: vg
            extents: 23%VG        # N, N%VG, N%PVS or N%FREE ...
          - name: lv_data
            base: vg
            size: 2GiB            # ... or a size (rounded down to 4 MiB)
            options: [...]        # extra lvcreate arguments
          - name: pool
            base: vg
            type: thin-pool
            extents: 80%VG
          - name: lv_thin
            base: vg
            type: thin            # size is its virtual size
            thin-pool: pool
            size: 4G

LV sizes are read as diskimage-builder reads them: the size grammar of
every other size (``1800M`` is 1.8*10^9 bytes, ``2GiB`` 2*2^30), rounded
down to a multiple of 4 MiB, and handed to lvcreate in bytes (which
rounds up to the VG's extent size).  Every PV, VG and LV is a node.

Isolation from the build host: every LVM command gets ``--devices`` with
the VG's own PVs (lvm2 2.03.12 and later; Debian bookworm has 2.03.16), so
LVM sees no other device: a host VG, or a parallel build's VG of the same
name, appears missing.  ``--config`` then turns off udev synchronisation
and rules (LVM makes its /dev nodes itself; no ``udevadm settle`` is ever
run), dmeventd monitoring (no daemon left behind), metadata backups
(nothing written to the host's /etc/lvm), hints, the host's filters
(within ``--devices`` everything is the image's) and the host's system ID
(a VG stamped with it would be foreign to the booted image).  The VG
keeps its configured name, the image needs it: an active VG of that name
on the host is refused before anything is created, and the name is
claimed so that two builds never use it at once.

Teardown, from the journal alone: ``lvm-lv`` deactivates one LV (a pool
with its hidden LVs) and ``lvm-vg`` the whole VG, each only if sysfs shows
it active and with only the image's PVs visible; ``lvm-pv`` undoes nothing
(the image is kept or deleted whole) but names any holder left on the PV.

Host tools: lvm2 (pvcreate vgcreate lvcreate lvchange vgchange), and
thin-provisioning-tools for thin pools.
"""
import decimal
import logging
import os
import re
import shlex

from diskimage_builder.block_device import cmdopts
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError

LOG = logging.getLogger(__name__)
MIB = 1 << 20
DEFAULT_EXTENT = 4 * MIB
# pvcreate puts the first extent 1 MiB in (default metadata area and
# alignment on a device with no I/O topology hints, as loop devices are).
DEFAULT_PE_START = MIB
# pvcreate options that move the first extent or shrink the data area:
# with any of them the planner cannot know the VG size.
PV_LAYOUT_OPTIONS = ('--metadatasize', '--dataalignment',
                     '--dataalignmentoffset', '--pvmetadatacopies',
                     '--bootloaderareasize', '--setphysicalvolumesize')
NOT_BLOCK_KINDS = ('mkfs', 'mount', 'fstab', 'table', 'pv', 'vg')
# Suffixes LVM keeps for its hidden sub-LVs, and prefixes it refuses.
RESERVED_LV_PARTS = ('_cdata', '_cmeta', '_corig', '_cpool', '_cvol',
                     '_imeta', '_iorig', '_mimage', '_mlog', '_pmspare',
                     '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata',
                     '_vorigin', '_wcorig')
RESERVED_LV_PREFIXES = ('snapshot', 'pvmove')

LVM_CONFIG = ' '.join([
    'activation { udev_sync=0 udev_rules=0 monitoring=0 }',
    'devices { obtain_device_list_from_udev=0 hints="none"'
    ' filter=["a|.*|"] global_filter=["a|.*|"] }',
    'backup { backup=0 archive=0 }',
    'global { system_id_source="none" }',
])

SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([bBsSkKmMgGtTpPeE]|[KMGTP]iB)?'
                     r'\s*$')
EXTENTS_RE = re.compile(r'^\s*(\d+)\s*(?:%\s*(VG|PVS|FREE))?\s*$')
LVM_UNITS = {'b': 1, 's': 512, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30,
             't': 1 << 40, 'p': 1 << 50, 'e': 1 << 60}


OPTIONS_SCHEMA = {'anyOf': [
    {'type': 'string'},
    {'type': 'array', 'items': {'type': 'string'}}],
    'description': 'extra pvcreate, vgcreate or lvcreate options, a string '
                   '(split as a shell would) or a list: options only, no '
                   'device, PV or VG operand, no --devices, --devicesfile '
                   'or --config'}
NAMES_SCHEMA = {'anyOf': [plugin.BASE_SCHEMA, {
    'type': 'array', 'items': plugin.BASE_SCHEMA, 'uniqueItems': True}]}


# -- pure helpers ---------------------------------------------------------

def parse_lv_size(value):
    """Bytes of an LV size as diskimage-builder reads it: the size grammar
    of every other size (``2G`` is 2*10^9 bytes, ``2GiB`` 2*2^30, a bare
    number is bytes), rounded down to a whole 4 MiB extent."""
    return sizes.align_down(sizes.parse_size(value), DEFAULT_EXTENT)


def parse_lvm_units(value):
    """Bytes of a size as LVM's own commands read it (``vgcreate -s 8M``):
    k m g t p (any case) binary, a bare number MiB."""
    match = SIZE_RE.match(str(value))
    if not match or isinstance(value, bool):
        raise sizes.SizeError('%r is not a size as LVM reads it' % (value,))
    number, unit = match.groups()
    return int(decimal.Decimal(number) * LVM_UNITS[(unit or 'm')[0].lower()])


def parse_extents(value):
    """(count, base) from ``23%VG`` / ``100%FREE`` / ``512``; base None
    for a plain number of extents."""
    match = EXTENTS_RE.match(str(value))
    if not match or isinstance(value, bool):
        raise sizes.SizeError('%r is not an extent count: expected N, N%%VG, '
                              'N%%PVS or N%%FREE' % (value,))
    count, base = int(match.group(1)), match.group(2)
    if count == 0 or (base and count > 100):
        raise sizes.SizeError('%r: expected %s' % (
            value, 'a percentage above 0 and at most 100' if base
            else 'at least one extent'))
    return count, base


def option_list(value):
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else list(value)


# Which options of each command take a value, as lvm2 2.03.16's
# --longhelp lists them (its short letters differ per command: -s is the
# extent size of vgcreate but the snapshot flag of lvcreate).  See
# cmdopts: an option missing here only makes its value look like an
# operand.
COMMON_LONG_VALUES = ('commandprofile', 'config', 'devices', 'devicesfile',
                      'driverloaded', 'journal', 'lockopt', 'profile',
                      'reportformat')
PVCREATE = cmdopts.Syntax('pvcreate', 'MZu', frozenset(COMMON_LONG_VALUES + (
    'bootloaderareasize', 'dataalignment', 'dataalignmentoffset',
    'labelsector', 'metadataignore', 'metadatasize', 'metadatatype',
    'pvmetadatacopies', 'restorefile', 'setphysicalvolumesize', 'uuid',
    'zero')))
VGCREATE = cmdopts.Syntax('vgcreate', 'AMZclps', frozenset(
    COMMON_LONG_VALUES + (
        'addtag', 'alloc', 'autobackup', 'clustered', 'dataalignment',
        'dataalignmentoffset', 'labelsector', 'locktype', 'maxlogicalvolumes',
        'maxphysicalvolumes', 'metadataprofile', 'metadatasize',
        'metadatatype', 'physicalextentsize', 'pvmetadatacopies',
        'setautoactivation', 'systemid', 'vgmetadatacopies', 'zero')))
LVCREATE = cmdopts.Syntax('lvcreate', 'ACILMRVWZacijklmnpr', frozenset(
    COMMON_LONG_VALUES + (
        'activate', 'addtag', 'alloc', 'autobackup', 'cachedevice',
        'cachemetadataformat', 'cachemode', 'cachepolicy', 'cachepool',
        'cachesettings', 'cachesize', 'cachevol', 'chunksize', 'compression',
        'contiguous', 'deduplication', 'discards', 'errorwhenfull',
        'extents', 'major', 'maxrecoveryrate', 'metadataprofile', 'minor',
        'minrecoveryrate', 'mirrorlog', 'mirrors', 'monitor', 'name',
        'permission', 'persistent', 'poolmetadatasize', 'poolmetadataspare',
        'raidintegrity', 'raidintegrityblocksize', 'raidintegritymode',
        'readahead', 'regionsize', 'setactivationskip', 'setautoactivation',
        'size', 'stripes', 'stripesize', 'thinpool', 'type', 'vdopool',
        'vdosettings', 'virtualsize', 'wipesignatures', 'zero')))
# Options the build gives every LVM command itself, to see the image's
# PVs only (see the module doc): given again they would widen or undo it.
ISOLATION_OPTIONS = ('--devices', '--devicesfile', '--config')
# lvcreate options the build makes from the LV's own keys.
# (--type only where the LV has a type: a plain LV may be a raid1 one.)
LV_OWN_OPTIONS = {'-n': 'name', '--name': 'name', '-L': 'size or extents',
                  '--size': 'size or extents', '-l': 'size or extents',
                  '--extents': 'size or extents', '-V': 'size and type',
                  '--virtualsize': 'size and type',
                  '--thinpool': 'thin-pool and type'}


def check_options(node, syntax, what, own=None):
    """Refuse options naming devices or undoing the build's isolation:
    an operand (another PV, VG or device), --devices, --config; and the
    options *own* says the node makes from its keys."""
    value = node.options.get('options')
    where = node.path + '.options'
    listed = isinstance(value, list)
    words = cmdopts.split(value, where)
    options = cmdopts.check_no_operands(words, syntax, where, listed, what)
    for index, name, _ in options:
        if name in ISOLATION_OPTIONS:
            raise ConfigError(cmdopts.where_of(where, listed, index),
                              '%s is set by the build: every LVM command '
                              'sees the image\'s own PVs only' % name)
        if name in (own or {}):
            raise ConfigError(cmdopts.where_of(where, listed, index),
                              '%s is made from this LV\'s %s: set that '
                              'instead' % (name, own[name]))


def extent_size(options):
    """The VG extent size vgcreate will use, or None if not readable."""
    args = option_list(options)
    for index, arg in enumerate(args):
        value = None
        if arg in ('-s', '--physicalextentsize') and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith('--physicalextentsize='):
            value = arg.split('=', 1)[1]
        elif arg.startswith('-s') and len(arg) > 2 and arg[1] != '-':
            value = arg[2:]
        if value is not None:
            try:
                return parse_lvm_units(value)
            except sizes.SizeError:
                return None
    return DEFAULT_EXTENT


# include/uapi/linux/dm-ioctl.h: DM_NAME_LEN 128, the NUL included.
DM_NAME_MAX = 127
# A VG gets /dev/<vg>, and vgcreate refuses a name /dev already holds
# (lvm(8) VALID NAMES: "A VG cannot be called anything that exists in
# /dev/ at the time of creation").  Checked on the host before create;
# these are refused at init already: the folders and nodes every Linux
# /dev has (devtmpfs, udev), mapper first.
DEV_NAMES = frozenset((
    'mapper', 'block', 'bus', 'char', 'console', 'core', 'cpu', 'disk',
    'dma_heap', 'dri', 'fd', 'full', 'fuse', 'hugepages', 'input', 'kmsg',
    'kvm', 'log', 'loop-control', 'md', 'mem', 'mqueue', 'net', 'null',
    'port', 'ptmx', 'pts', 'random', 'rtc', 'shm', 'snd', 'stderr', 'stdin',
    'stdout', 'tty', 'urandom', 'vfio', 'zero'))
# Kernel names of disks, partitions and terminals, which /dev holds too.
DEV_NAME_RE = re.compile(r'((loop|ram|nbd|md|dm-|sr|zram|mmcblk)\d+|'
                         r'nvme\d+(n\d+)?|tty\w*|(s|v|xv)d[a-z]{1,2})'
                         r'(p?\d+)?\Z')


def check_vg_name(name, where):
    if name in DEV_NAMES or DEV_NAME_RE.match(name):
        raise ConfigError(where, 'VG name %r is taken: LVM makes /dev/%s '
                          'for the VG and refuses a name that /dev already '
                          'holds' % (name, name))


def mangle(name):
    # device-mapper names join VG and LV with one hyphen, so hyphens
    # inside either name are doubled.
    return name.replace('-', '--')


def mapper_name(vg, lv):
    return '%s-%s' % (mangle(vg), mangle(lv))


def split_mapper_name(name):
    """[vg, lv, layer...] from a device-mapper name LVM made."""
    parts, current, index = [], [], 0
    while index < len(name):
        if name[index] == '-':
            if name[index + 1:index + 2] == '-':
                current.append('-')
                index += 2
                continue
            parts.append(''.join(current))
            current = []
        else:
            current.append(name[index])
        index += 1
    parts.append(''.join(current))
    return parts


def lvm_args(devices):
    """What every LVM command of the build gets: see the module doc."""
    return ['--devices', ','.join(devices), '--config', LVM_CONFIG]


def thin_metadata_extents(data_bytes, extent):
    # LVM sizes pool metadata at 64 bytes per 64 KiB chunk, at least
    # 2 MiB, and by default keeps a spare of the same size.
    meta = min(max(data_bytes // 1024, 2 * MIB), 16 << 30)
    return 2 * -(-meta // extent)


# -- what the kernel holds ------------------------------------------------

def active_lvs(host, vg):
    """{dm name: DmDevice} of the active LVs (and hidden sub-LVs) of VG
    *vg*."""
    return {name: dm for name, dm in host.dm_devices().items()
            if dm.uuid.startswith('LVM-') and
            split_mapper_name(name)[0] == vg}


def lv_is_active(host, vg, lv):
    # A thin pool is active through its hidden _tdata and _tmeta LVs.
    own = (lv, lv + '_tdata', lv + '_tmeta')
    return any(split_mapper_name(name)[1] in own
               for name in active_lvs(host, vg) if '-' in name)


def stands_on(host, vg):
    """{kernel name: device number} of what the active LVs of *vg* stand
    on."""
    found = {}
    for dm in active_lvs(host, vg).values():
        for kname in host.devices_under(dm.kname):
            found[kname] = host.attr(kname, 'dev')
    return found


def image_backing(host, device):
    """The file behind a loop device or one of its partitions, or None."""
    kname = host.kernel_name(device)
    disk = os.path.basename(os.path.dirname(os.path.realpath(
        host.block(kname)))) if host.attr(kname, 'partition') else kname
    for loop in host.loops():
        if loop.name == disk:
            return loop.backing
    return None


def check_ours(scope, args):
    """NotOurs unless the active VG stands on this build's PVs only (by
    the device numbers recorded when they were made); without a journal,
    on images below image-dir only."""
    vg = args['vg']
    under = stands_on(scope.host, vg)
    if scope.from_system:
        prefix = os.path.realpath(scope.image_dir or '/nonexistent') + '/'
        foreign = [n for n in under if not (image_backing(
            scope.host, n) or '').startswith(prefix)]
    else:
        foreign = [n for n, devnum in under.items()
                   if devnum not in (args.get('devnums') or [])]
    if foreign or not under or not (args.get('devnums') or
                                    scope.from_system):
        raise resources.NotOurs('VG %s is active on %s, not (only) on this '
                                'build\'s PVs: left alone; deactivate it by '
                                'hand if it is this build\'s'
                                % (vg, ', '.join(sorted(under)) or 'nothing'))


def _visible_devices(scope, args):
    devices = [d for d in args.get('devices', [])
               if scope.host.is_block_device(d)]
    if scope.from_system:
        devices = [os.path.join(scope.host.dev_root, kname) for kname in
                   sorted(stands_on(scope.host, args['vg']))]
    if not devices:
        raise resources.ReleaseError('VG %s still has active LVs but its PVs '
                                     'are gone' % args['vg'])
    return devices


# -- teardown -------------------------------------------------------------

@resources.releaser('lvm-lv')
def release_lv(scope, args):
    if not lv_is_active(scope.host, args['vg'], args['lv']):
        return
    check_ours(scope, args)
    scope.runner.run(['lvchange', *lvm_args(_visible_devices(scope, args)),
                      '--activate', 'n', '%s/%s' % (args['vg'], args['lv'])])


@resources.releaser('lvm-vg')
def release_vg(scope, args):
    # Checked by name in sysfs, then deactivated with only this build's
    # PVs visible: a parallel build's VG of the same name is never seen.
    if not active_lvs(scope.host, args['vg']):
        return
    check_ours(scope, args)
    scope.runner.run(['vgchange', *lvm_args(_visible_devices(scope, args)),
                      '--activate', 'n', args['vg']])


@resources.releaser('lvm-pv')
def release_pv(scope, args):
    # Nothing to undo on the PV itself (the image is deleted or kept as
    # is); this only makes a left-over holder a clear error here rather
    # than a busy loop device later.
    device = args['device']
    if not scope.host.is_block_device(device):
        return
    left = scope.host.holders(scope.host.kernel_name(device))
    if left:
        names = {dm.kname: name
                 for name, dm in scope.host.dm_devices().items()}
        raise resources.ReleaseError('PV %s is still held by %s' % (
            device, ', '.join('%s (%s)' % (k, names.get(k, '?'))
                              for k in left)))


# -- nodes ----------------------------------------------------------------

def _dependents(graph, node):
    return [other for other in graph.values() if node.name in other.deps]


class PvNode(plugin.Node):
    """``pvcreate`` on a block device."""
    kind = 'pv'

    def validate(self, graph, params):
        check_options(self, PVCREATE, 'pvcreate gets its one device from '
                      'base')
        base = graph[self.deps[0]]
        if base.kind in NOT_BLOCK_KINDS:
            raise ConfigError(self.path + '.base', 'a PV needs a block '
                              'device node as base; %s is a %s node'
                              % (base.name, base.kind))
        if base.kind == 'lv':
            raise ConfigError(self.path + '.base', 'a PV cannot be on an '
                              'LV (%s): LVM does not scan LVs for PVs'
                              % base.name)
        for other in _dependents(graph, base):
            # A VG on the device itself is reported by the VG, better.
            if other is not self and other.kind != 'vg':
                raise ConfigError(other.path + '.base', '%s is the device '
                                  'of PV %s; nothing else can use it'
                                  % (base.name, self.name))
        users = _dependents(graph, self)
        for other in users:
            if other.kind != 'vg':
                raise ConfigError(other.path + '.base', '%s is an LVM PV; '
                                  'only a VG can use it' % self.name)
        if len(users) > 1:
            raise ConfigError(users[1].path + '.base', 'PV %s is already '
                              'in VG %s' % (self.name, users[0].name))

    def tools(self, params):
        return {'pvcreate': 'lvm2'}

    def plan(self, pctx):
        base = pctx.planned.get(self.deps[0], {})
        pctx.of(self.name).update(zeroed=base.get('zeroed', False))
        options = option_list(self.options.get('options'))
        if 'size' not in base or any(o.split('=')[0] in PV_LAYOUT_OPTIONS
                                     for o in options):
            return
        pctx.of(self.name).update(data_bytes=max(
            base['size'] - DEFAULT_PE_START, 0))

    def argv(self, device):
        return ['pvcreate', *lvm_args([device]), '--yes',
                *option_list(self.options.get('options')), device]

    def commands(self, pctx):
        return [plugin.command(self.argv(pctx.device(self.deps[0])))]

    def create(self, ctx):
        device = ctx.device(self.deps[0])
        ctx.hold(self, 'lvm-pv', device=device)
        ctx.runner.run(self.argv(device))
        ctx.record(self, pv_device=device)


class VgNode(plugin.Node):
    """``vgcreate`` over the PVs; its teardown deactivates every LV."""
    kind = 'vg'

    def validate(self, graph, params):
        check_vg_name(self.name, self.path + '.name')
        check_options(self, VGCREATE, 'vgcreate gets the VG name and its '
                      'PVs from this entry')
        if not self.deps:
            raise ConfigError(self.path + '.base', 'a VG is built on one or '
                              'more PVs: list names of pvs entries')
        for name in self.deps:
            if graph[name].kind != 'pv':
                raise ConfigError(self.path + '.base', 'a VG is built on '
                                  'pvs entries; %s is a %s node'
                                  % (name, graph[name].kind))
        for other in _dependents(graph, self):
            if other.kind != 'lv':
                raise ConfigError(other.path + '.base', '%s is an LVM VG, '
                                  'not a block device: use one of its LVs'
                                  % self.name)
        percent = 0
        for lv in _dependents(graph, self):
            extents = lv.options.get('extents')
            if extents is None or lv.facts['lv_type'] == 'thin':
                continue
            try:
                count, base = parse_extents(extents)
            except sizes.SizeError:
                continue        # the LV reports it at its own path
            if base in ('VG', 'PVS'):
                percent += count
                if percent > 100:
                    raise ConfigError(lv.path + '.extents', 'the LVs of VG '
                                      '%s ask for %d%% of it in total'
                                      % (self.name, percent))

    def tools(self, params):
        return {'vgcreate': 'lvm2', 'vgchange': 'lvm2'}

    def claims(self):
        # Two active VGs of one name collide in /dev/mapper and /dev/<vg>.
        return [('vg', self.name)]

    def held_resources(self, params):
        return [('lvm-vg', {'vg': self.name})]

    def preflight(self, runner, params):
        clash = sorted(active_lvs(host_lib.HOST, self.name))
        if clash:
            raise UsageError(
                '%s: a VG named %s is already active on this host (%s); '
                'the image needs this name, so deactivate that VG or rename '
                'the VG in the config' % (self.path, self.name,
                                          ', '.join(clash)))
        # No LV of this name is active, so /dev/<vg> is not this VG's:
        # vgcreate refuses a name /dev holds, folders (/dev/disk) too.
        path = os.path.join(host_lib.HOST.dev_root, self.name)
        if os.path.lexists(path):
            raise UsageError('%s: VG name %s is taken by %s, which LVM '
                             'needs for the VG\'s device directory'
                             % (self.path, self.name, path))
        return ['VG %s: no VG of that name is active on this host'
                % self.name]

    def plan(self, pctx):
        # New LVs on PVs that read as zeros read as zeros too: mkfs may
        # skip discarding them.
        pctx.of(self.name).update(zeroed=all(
            pctx.planned.get(pv, {}).get('zeroed') for pv in self.deps))
        extent = extent_size(self.options.get('options'))
        pvs = [pctx.planned.get(pv, {}).get('data_bytes') for pv in self.deps]
        if extent is None or None in pvs:
            return
        total = sum(b // extent for b in pvs)
        pctx.of(self.name).update(extent_size=extent, extents=total,
                                  free=total)

    def argv(self, devices):
        return ['vgcreate', *lvm_args(devices),
                *option_list(self.options.get('options')), self.name,
                *devices]

    def commands(self, pctx):
        return [plugin.command(self.argv(planned_pv_devices(pctx,
                                                            self.deps)))]

    def create(self, ctx):
        devices = [ctx.results(pv)['pv_device'] for pv in self.deps]
        ctx.hold(self, 'lvm-vg', vg=self.name, devices=devices,
                 devnums=[ctx.host.devnum(d) for d in devices])
        ctx.runner.run(self.argv(devices))
        ctx.record(self, vg=self.name, devices=devices)


class LvNode(plugin.Node):
    """``lvcreate``: a plain LV, a thin pool or a thin LV."""
    kind = 'lv'

    @property
    def provides(self):
        # A thin pool's own device is not for filesystems.
        return frozenset() if self.lv_type == 'thin-pool' else frozenset(
            [plugin.BLOCK_DEVICE])

    @property
    def vg(self):
        return self.deps[0]

    @property
    def lv_type(self):
        return self.facts['lv_type']

    def link(self, graph):
        # Added here, not in expand, so that a pool naming nothing is
        # reported at .thin-pool rather than as a dangling base.
        pool = self.options.get('thin-pool')
        if self.lv_type == 'thin' and pool in graph and \
                pool not in self.deps:
            self.deps.append(pool)

    def validate(self, graph, params):
        if graph[self.vg].kind != 'vg':
            raise ConfigError(self.path + '.base', 'an LV is made in a vgs '
                              'entry; %s is a %s node'
                              % (self.vg, graph[self.vg].kind))
        self._check_name()
        self._check_amount()
        own = dict(LV_OWN_OPTIONS)
        if self.lv_type != 'lv':
            own['--type'] = 'type'
        check_options(self, LVCREATE, 'lvcreate gets the VG from base',
                      own)
        pool = self.options.get('thin-pool')
        if self.lv_type == 'thin':
            if pool is None:
                raise ConfigError(self.path, 'a thin LV needs thin-pool: '
                                  'the name of a type thin-pool LV')
            other = graph.get(pool)
            if other is None:
                raise ConfigError(self.path + '.thin-pool', 'names no node: '
                                  'expected a thin-pool LV of VG %s'
                                  % self.vg)
            if other.kind != 'lv' or other.lv_type != 'thin-pool':
                raise ConfigError(self.path + '.thin-pool', '%s is not a '
                                  'thin-pool LV' % pool)
            if other.vg != self.vg:
                raise ConfigError(self.path + '.thin-pool', 'thin pool %s '
                                  'is in VG %s, not %s' % (pool, other.vg,
                                                           self.vg))
        elif pool is not None:
            raise ConfigError(self.path + '.thin-pool', 'only a type thin '
                              'LV takes a thin-pool')
        for other in _dependents(graph, self):
            if self.lv_type == 'thin-pool' and not (
                    other.kind == 'lv' and other.lv_type == 'thin'):
                raise ConfigError(other.path + '.base', '%s is a thin pool; '
                                  'only thin LVs can use it' % self.name)

    def _check_name(self):
        name = self.name
        bad = [p for p in RESERVED_LV_PARTS if p in name] + [
            p for p in RESERVED_LV_PREFIXES if name.startswith(p)]
        if bad:
            raise ConfigError(self.path + '.name', 'LVM reserves %r in LV '
                              'names' % bad[0])
        longest = max(self.dm_names(), key=len)
        if len(longest) > DM_NAME_MAX:
            raise ConfigError(self.path + '.name', 'the device-mapper name '
                              '%s of this LV is %d characters; the kernel '
                              'takes at most %d (DM_NAME_LEN, with hyphens '
                              'in the VG and LV names doubled): shorten the '
                              'VG or LV name' % (longest, len(longest),
                                                 DM_NAME_MAX))

    def dm_names(self):
        """The device-mapper names LVM makes for this LV: a thin pool's
        hidden data and metadata LVs and its -tpool layer too."""
        names = [mapper_name(self.vg, self.name)]
        if self.lv_type == 'thin-pool':
            names += [mapper_name(self.vg, self.name + '_tdata'),
                      mapper_name(self.vg, self.name + '_tmeta'),
                      mapper_name(self.vg, self.name) + '-tpool']
        return names

    def identifiers(self):
        return [('device-mapper name', name, self.path + '.name')
                for name in self.dm_names()]

    def _check_amount(self):
        has_size = 'size' in self.options
        has_extents = 'extents' in self.options
        if has_size == has_extents:
            raise ConfigError(self.path, 'give size or extents%s' % (
                ', not both' if has_size else ''))
        if self.lv_type == 'thin' and not has_size:
            raise ConfigError(self.path + '.extents', 'a thin LV takes its '
                              'virtual size from size, not extents')
        try:
            if has_size:
                if parse_lv_size(self.options['size']) <= 0:
                    raise sizes.SizeError('an LV size must be at least '
                                          '4 MiB')
            else:
                parse_extents(self.options['extents'])
        except sizes.SizeError as err:
            raise ConfigError(self.path + ('.size' if has_size
                                           else '.extents'), str(err))

    def tools(self, params):
        tools = {'lvcreate': 'lvm2', 'lvchange': 'lvm2'}
        if self.lv_type != 'lv':
            # LVM checks a pool's metadata after deactivating it.
            tools['thin_check'] = 'thin-provisioning-tools'
        return tools

    def plan(self, pctx):
        vg = pctx.planned.get(self.vg, {})
        # Unwritten blocks of a thin LV always read as zeros.
        pctx.of(self.name).update(zeroed=self.lv_type == 'thin' or
                                  vg.get('zeroed', False))
        if 'size' in self.options:
            pctx.of(self.name).update(
                size=parse_lv_size(self.options['size']))
        if self.lv_type == 'thin' or 'extents' not in vg:
            return
        extent = vg['extent_size']
        data, need = self._extents_planned(vg, extent)
        if data <= 0:
            raise ConfigError(self.path, 'LV %s would get no extents: VG %s '
                              'has %d of its %d left' % (
                                  self.name, self.vg, vg['free'],
                                  vg['extents']))
        if need > vg['free']:
            raise ConfigError(self.path, 'LV %s needs %d extents of %s but '
                              'VG %s has %d of its %d left (%s after LVM '
                              'metadata)' % (self.name, need,
                                             sizes.human(extent), self.vg,
                                             vg['free'], vg['extents'],
                                             sizes.human(vg['extents'] *
                                                         extent)))
        vg['free'] -= need
        pctx.of(self.name).update(size=data * extent, extents=data)

    def _extents_planned(self, vg, extent):
        """(extents of data, extents taken from the VG)."""
        need = self._extents_needed(vg, extent)
        if self.lv_type != 'thin-pool':
            return need, need
        meta = thin_metadata_extents(need * extent, extent)
        if str(self.options.get('extents', '')).endswith('FREE'):
            # lvcreate fits data, metadata and spare into N%FREE (but not
            # into N%VG, which fails when the VG is short).
            return need - meta, need
        return need, need + meta

    def _extents_needed(self, vg, extent):
        if 'size' in self.options:
            return -(-parse_lv_size(self.options['size']) // extent)
        count, base = parse_extents(self.options['extents'])
        if base is None:
            return count
        # lvcreate rounds a percentage down to whole extents.
        return count * (vg['free'] if base == 'FREE' else vg['extents']) \
            // 100

    def argv(self, devices):
        argv = ['lvcreate', *lvm_args(devices), '--yes']
        if self.lv_type != 'lv':
            argv += ['--type', self.lv_type]
        if self.lv_type == 'thin':
            argv += ['--thinpool', self.options['thin-pool'],
                     '--virtualsize', _bytes_arg(self.options['size'])]
        elif 'size' in self.options:
            argv += ['--size', _bytes_arg(self.options['size'])]
        else:
            argv += ['--extents', str(self.options['extents']).replace(
                ' ', '')]
        return argv + ['--name', self.name,
                       *option_list(self.options.get('options')), self.vg]

    def commands(self, pctx):
        vg = pctx.nodes[self.vg]
        return [plugin.command(self.argv(planned_pv_devices(pctx,
                                                            vg.deps)))]

    def create(self, ctx):
        devices = ctx.results(self.vg)['devices']
        ctx.hold(self, 'lvm-lv', vg=self.vg, lv=self.name, devices=devices,
                 devnums=[ctx.host.devnum(d) for d in devices])
        ctx.runner.run(self.argv(devices))
        values = {'vg': self.vg, 'lv': self.name, 'lv_type': self.lv_type,
                  'mapper': mapper_name(self.vg, self.name)}
        if self.lv_type != 'thin-pool':
            # A pool's own device is read-only and not for filesystems.
            values['device'] = self._device(ctx)
        ctx.record(self, **values)

    def _device(self, ctx):
        path = os.path.join(ctx.host.dev_root, self.vg, self.name)
        if ctx.host.is_block_device(path):
            return path
        # With udev rules off LVM makes this link itself; if /dev did not
        # take it, the kernel's dm-N node is the device.
        dm = ctx.host.dm_devices().get(mapper_name(self.vg, self.name))
        if dm is None:
            raise BlockDeviceError('lvcreate made no active device for %s/%s'
                                   % (self.vg, self.name))
        LOG.info('%s is missing: using the kernel name %s', path, dm.kname)
        return ctx.host.wait_for_node(
            dm.kname, on_create=lambda node, devnum: ctx.hold(
                self, 'device-node', path=node, devnum=devnum))


def planned_pv_devices(pctx, pvs):
    """What create will find as the devices of PVs *pvs*: their bases'."""
    return [pctx.device(pctx.nodes[pv].deps[0]) for pv in pvs]


def _bytes_arg(size):
    # lvcreate rounds up to whole extents of the VG.
    return '%dB' % parse_lv_size(size)


LV_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['name', 'base'],
    'properties': {
        'name': plugin.NAME_SCHEMA,
        'base': plugin.BASE_SCHEMA,
        'size': {'type': ['string', 'integer']},
        'extents': {'type': ['string', 'integer']},
        'type': {'enum': ['thin-pool', 'thin']},
        'thin-pool': plugin.NAME_SCHEMA,
        'options': OPTIONS_SCHEMA,
    },
}


class Lvm(plugin.Plugin):
    SCHEMA = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['pvs', 'vgs', 'lvs'],
        'properties': {
            'name': plugin.NAME_SCHEMA,
            # diskimage-builder ignores it (its own configs give the
            # table's name here): so does this plugin, whatever it names.
            'base': {},
            'pvs': {'type': 'array', 'minItems': 1, 'items': {
                'type': 'object',
                'additionalProperties': False,
                'required': ['name', 'base'],
                'properties': {'name': plugin.LOOSE_NAME_SCHEMA,
                               'base': plugin.BASE_SCHEMA,
                               'options': OPTIONS_SCHEMA}}},
            'vgs': {'type': 'array', 'minItems': 1, 'items': {
                'type': 'object',
                'additionalProperties': False,
                'required': ['name', 'base'],
                'properties': {'name': plugin.NAME_SCHEMA,
                               'base': NAMES_SCHEMA,
                               'options': OPTIONS_SCHEMA}}},
            'lvs': {'type': 'array', 'items': LV_SCHEMA},
        },
    }
    NODE_TYPES = (PvNode, VgNode, LvNode)

    @classmethod
    def split(cls, options, path, plugin_names):
        # Tree form: a mkfs may sit inside an lvs item, as inside a
        # partition.
        own, children = super().split(options, path, plugin_names)
        cls.split_items(own, 'lvs', path, plugin_names, children)
        return own, children

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        nodes = []
        for index, pv in enumerate(options['pvs']):
            nodes.append(PvNode(plugin_name, pv['name'], '%s.pvs[%d]'
                                % (path, index), [pv['base']], pv))
        for index, vg in enumerate(options['vgs']):
            nodes.append(VgNode(plugin_name, vg['name'], '%s.vgs[%d]'
                                % (path, index), plugin.as_list(vg['base']),
                                vg))
        for index, lv in enumerate(options['lvs']):
            nodes.append(LvNode(plugin_name, lv['name'], '%s.lvs[%d]'
                                % (path, index), [lv['base']], lv,
                                {'lv_type': lv.get('type', 'lv')}))
        return nodes


# diskimage-builder registers its lvm plugin under this name; installed
# over it, this package's module takes its place, and the entry point in
# diskimage-builder's own metadata must still resolve.
LVMPlugin = Lvm
