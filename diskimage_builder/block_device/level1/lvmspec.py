"""LVM as pure code: sizes and extents as diskimage-builder and LVM read
them, names, the options a config may pass to pvcreate, vgcreate and
lvcreate, the arguments that isolate every LVM command from the host,
and how a VG's extents go to its LVs (:func:`allocate`).  No I/O."""
import decimal
import re
import shlex

from diskimage_builder.block_device import cmdopts
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import ConfigError

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


def lv_size_arg(size):
    """The lvcreate argument for an LV size (lvcreate rounds it up to
    whole extents of the VG)."""
    return '%dB' % parse_lv_size(size)


def extents_wanted(options, lv_type, vg_extents, free, extent):
    """(extents of data, extents taken from the VG) of one LV."""
    if 'size' in options:
        need = -(-parse_lv_size(options['size']) // extent)
    else:
        count, base = parse_extents(options['extents'])
        # lvcreate rounds a percentage down to whole extents.
        need = count if base is None else \
            count * (free if base == 'FREE' else vg_extents) // 100
    if lv_type != 'thin-pool':
        return need, need
    meta = thin_metadata_extents(need * extent, extent)
    if str(options.get('extents', '')).endswith('FREE'):
        # lvcreate fits data, metadata and spare into N%FREE (but not
        # into N%VG, which fails when the VG is short).
        return need - meta, need
    return need, need + meta


def allocate(vg, lvs, extent, total):
    """{lv name: extents of data} for the LVs (nodes, in creation order)
    of VG *vg*, taken from its *total* extents; ConfigError at the LV that
    does not fit.  Thin LVs take nothing from the VG."""
    free, allocation = total, {}
    for lv in lvs:
        if lv.facts['lv_type'] == 'thin':
            continue
        data, need = extents_wanted(lv.options, lv.facts['lv_type'], total,
                                    free, extent)
        if data <= 0:
            raise ConfigError(lv.path, 'LV %s would get no extents: VG %s '
                              'has %d of its %d left' % (lv.name, vg, free,
                                                         total))
        if need > free:
            raise ConfigError(lv.path, 'LV %s needs %d extents of %s but '
                              'VG %s has %d of its %d left (%s after LVM '
                              'metadata)' % (lv.name, need,
                                             sizes.human(extent), vg, free,
                                             total, sizes.human(total *
                                                                extent)))
        free -= need
        allocation[lv.name] = data
    return allocation, free


def lv_dm_names(vg, lv, lv_type):
    """The device-mapper names LVM makes for an LV: a thin pool's hidden
    data and metadata LVs and its -tpool layer too."""
    names = [mapper_name(vg, lv)]
    if lv_type == 'thin-pool':
        names += [mapper_name(vg, lv + '_tdata'),
                  mapper_name(vg, lv + '_tmeta'),
                  mapper_name(vg, lv) + '-tpool']
    return names


def check_lv_name(path, name, dm_names):
    """ConfigError at *path* for an LV name LVM or the kernel refuses."""
    bad = [p for p in RESERVED_LV_PARTS if p in name] + [
        p for p in RESERVED_LV_PREFIXES if name.startswith(p)]
    if bad:
        raise ConfigError(path + '.name', 'LVM reserves %r in LV names'
                          % bad[0])
    longest = max(dm_names, key=len)
    if len(longest) > DM_NAME_MAX:
        raise ConfigError(path + '.name', 'the device-mapper name %s of '
                          'this LV is %d characters; the kernel takes at '
                          'most %d (DM_NAME_LEN, with hyphens in the VG and '
                          'LV names doubled): shorten the VG or LV name'
                          % (longest, len(longest), DM_NAME_MAX))


def check_lv_amount(path, options, lv_type):
    """ConfigError at *path* unless the LV has exactly one of size and
    extents, each readable (a thin LV: size only)."""
    has_size = 'size' in options
    if has_size == ('extents' in options):
        raise ConfigError(path, 'give size or extents%s' % (
            ', not both' if has_size else ''))
    if lv_type == 'thin' and not has_size:
        raise ConfigError(path + '.extents', 'a thin LV takes its virtual '
                          'size from size, not extents')
    try:
        if has_size:
            if parse_lv_size(options['size']) <= 0:
                raise sizes.SizeError('an LV size must be at least 4 MiB')
        else:
            parse_extents(options['extents'])
    except sizes.SizeError as err:
        raise ConfigError(path + ('.size' if has_size else '.extents'),
                          str(err))
