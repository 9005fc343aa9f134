"""Finding a disk of the host and every way the host uses it, read from
sysfs, /proc and /etc (no udev needed); the ``existing`` plugin builds on
these.

Selectors: ``serial`` is matched against ``/sys/block/*/serial``,
``device/serial`` and the SCSI unit serial page, ``wwn`` against ``wwid``
and ``device/wwid``.  ``by-id`` uses udev's link when there is one, and
otherwise the names udev would give, worked out from sysfs for virtio
(``virtio-<serial>``), NVMe, ATA and ``wwn-0x...`` disks.  ``by-path``
names need udev's links.
"""
import dataclasses
import errno
import json
import os
import stat
import time

from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.host import unescape

MIB = 1 << 20
# How long a transient opener (udev probing after a change event) gets to
# let go before the disk counts as busy.
BUSY_WAIT = 3.0


class DiskError(UsageError):
    """The disk cannot be used; the message says why (exit status 2)."""


@dataclasses.dataclass
class Disk:
    name: str       # kernel name: vdb, sda, nvme0n1
    node: str       # its device node
    dev: str        # major:minor
    how: str        # how it was selected, for messages


# -- finding the disk --------------------------------------------------------

def resolve(host, selector, value):
    """The one disk *selector* names, or DiskError."""
    how = '%s %s' % (selector, value)
    if selector == 'device':
        return _by_node(host, value, how)
    if selector in ('by-id', 'by-path'):
        link = os.path.join(host.dev_root, 'disk', selector, value)
        if os.path.lexists(link):
            return _by_node(host, link, how)
        if selector == 'by-path':
            raise DiskError('there is no %s: by-path names are links udev '
                            'makes, and it made none here; select the disk '
                            'by serial or wwn' % link)
        matches = [n for n in disks(host) if value in by_id_names(host, n)]
    elif selector == 'serial':
        matches = [n for n in disks(host) if value in serials(host, n)]
    else:
        wanted = _wwn_key(value)
        matches = [n for n in disks(host)
                   if wanted in {_wwn_key(w) for w in wwids(host, n)}]
    if len(matches) > 1:
        raise DiskError('%s matches %d disks (%s): select one by device'
                        % (how, len(matches), ', '.join(matches)))
    if not matches:
        seen = ', '.join(describe(host, n) for n in disks(host)
                         if not n.startswith(('loop', 'ram', 'zram')))
        raise DiskError('no disk has %s (disks seen: %s)'
                        % (how, seen or 'none'))
    return _by_name(host, matches[0], how)


def _by_node(host, path, how):
    try:
        info = host.stat(path)
    except FileNotFoundError:
        raise DiskError('%s does not exist' % path)
    except OSError as err:
        raise DiskError('cannot look at %s: %s' % (path, err.strerror))
    if not stat.S_ISBLK(info.st_mode):
        raise DiskError('%s is not a block device (it is %s)'
                        % (path, _file_kind(info.st_mode)))
    dev = _devnum(info.st_rdev)
    sysdir = os.path.join(host.sys_root, 'dev', 'block', dev)
    if not os.path.exists(sysdir):
        raise DiskError('%s is device %s, which the kernel does not list '
                        'in %s' % (path, dev, sysdir))
    name = os.path.basename(os.path.realpath(sysdir))
    return Disk(name, os.path.realpath(path), dev, how)


def _by_name(host, name, how):
    dev = (host.read(host.block(name, 'dev')) or '').strip()
    node = os.path.join(host.dev_root, name)
    try:
        info = host.stat(node)
    except OSError:
        raise DiskError('the kernel has disk %s (%s) but there is no %s'
                        % (name, how, node))
    if not stat.S_ISBLK(info.st_mode) or _devnum(info.st_rdev) != dev:
        raise DiskError('%s is not the device node of %s (%s)'
                        % (node, name, dev))
    return Disk(name, node, dev, how)


def _devnum(rdev):
    return '%d:%d' % (os.major(rdev), os.minor(rdev))


def _file_kind(mode):
    for test, kind in ((stat.S_ISREG, 'a regular file'),
                       (stat.S_ISDIR, 'a directory'),
                       (stat.S_ISCHR, 'a character device')):
        if test(mode):
            return kind
    return 'not a device'


def disks(host):
    return host.listdir(os.path.join(host.sys_root, 'block'))


def attr_text(host, name, *attr):
    text = host.read(host.block(name, *attr))
    return text.strip('\x00 \t\n') if text else ''


def serials(host, name):
    found = {attr_text(host, name, 'serial'),
             attr_text(host, name, 'device', 'serial')}
    # SCSI unit serial number page: a 4-byte header, then the serial.
    page = host.read(host.block(name, 'device', 'vpd_pg80'), binary=True)
    if page and len(page) > 4:
        found.add(page[4:].decode('ascii', 'replace').strip('\x00 '))
    return found - {''}


def wwids(host, name):
    return {attr_text(host, name, 'wwid'),
            attr_text(host, name, 'device', 'wwid')} - {''}


def _wwn_key(text):
    text = ' '.join(text.lower().split())
    for prefix in ('wwn-', '0x', 'naa.', 'eui.'):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _udev_word(text):
    # udev turns each run of white space into one _ and / into _.
    return '_'.join(text.split()).replace('/', '_')


def by_id_names(host, name):
    """The /dev/disk/by-id names udev would give *name*, from sysfs."""
    names = set()
    serial = attr_text(host, name, 'serial')
    if name.startswith('vd') and serial:
        names.add('virtio-' + _udev_word(serial))
    model = attr_text(host, name, 'device', 'model')
    if name.startswith('nvme'):
        device_serial = attr_text(host, name, 'device', 'serial')
        if model and device_serial:
            names.add('nvme-%s_%s' % (_udev_word(model),
                                      _udev_word(device_serial)))
    for wwid in wwids(host, name):
        if name.startswith('nvme'):
            names.add('nvme-' + _udev_word(wwid))
        elif wwid.startswith('naa.'):
            names.add('wwn-0x' + wwid[4:].lower())
            names.add('scsi-3' + wwid[4:].lower())
        elif wwid.startswith('t10.ATA'):
            words = wwid[len('t10.ATA'):].split()
            if len(words) > 1:
                names.add('ata-%s_%s' % ('_'.join(words[:-1]), words[-1]))
    return names


def describe(host, name):
    extra = sorted(serials(host, name)) or sorted(wwids(host, name))
    return name + (' (%s)' % extra[0] if extra else '')


def partitions(host, name):
    return [entry for entry in host.listdir(host.block(name))
            if os.path.exists(host.block(name, entry, 'partition'))]


def size_of(host, name):
    return int(attr_text(host, name, 'size') or 0) * 512


def sector_size_of(host, name):
    return int(attr_text(host, name, 'queue', 'logical_block_size') or 512)


# -- what the host does with it ----------------------------------------------

def in_use(host, disk, wait=None):
    """Every way the host uses *disk* or its partitions, as sentences."""
    names = [disk.name] + partitions(host, disk.name)
    numbers = {attr_text(host, n, 'dev'): n for n in names}
    problems = (mounted(host, numbers, names) + swapped(host, numbers)
                + held(host, names) + looped(host, numbers))
    # Waiting only helps when nothing lasting was found.
    wait = 0 if problems else BUSY_WAIT if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        busy = opened(host, numbers) + exclusive(host, disk)
        if not busy or time.monotonic() >= deadline:
            return problems + busy
        time.sleep(0.2)


def _which(host, path, numbers):
    """The name in *numbers* that block device *path* is, or None."""
    try:
        info = host.stat(path)
    except OSError:
        return None
    if stat.S_ISBLK(info.st_mode):
        return numbers.get(_devnum(info.st_rdev))
    return None


def mounted(host, numbers, names):
    problems = []
    info = host.read(os.path.join(host.proc_root, 'self', 'mountinfo'))
    for line in (info or '').splitlines():
        fields = line.split()
        if ' - ' not in line or len(fields) < 5:
            continue
        fstype, source = line.split(' - ', 1)[1].split()[:2]
        source = unescape(source)
        real = os.path.realpath(source) if source.startswith('/') else ''
        name = numbers.get(fields[2]) or (
            os.path.basename(real) if real.startswith('/dev/') else None)
        if name in names:
            target = unescape(fields[4])
            problems.append('%s is mounted on %s (%s)%s' % (
                name, target, fstype,
                ': it holds the root filesystem' if target == '/' else ''))
    btrfs = os.path.join(host.sys_root, 'fs', 'btrfs')
    for fsid in host.listdir(btrfs):
        for name in host.listdir(os.path.join(btrfs, fsid, 'devices')):
            if name in names:
                problems.append('%s is a device of the mounted btrfs '
                                'filesystem %s' % (name, fsid))
    return problems


def swapped(host, numbers):
    text = host.read(os.path.join(host.proc_root, 'swaps')) or ''
    problems = []
    for line in text.splitlines()[1:]:
        path = unescape(line.split()[0]) if line.split() else ''
        name = _which(host, path, numbers)
        if name:
            problems.append('%s is in use as swap' % name)
    return problems


def held(host, names):
    problems = []
    for name in names:
        for holder in host.listdir(host.block(name, 'holders')):
            what = attr_text(host, holder, 'dm', 'name')
            what = ('device-mapper %s' % what if what else
                    'md array' if holder.startswith('md') else 'holder')
            problems.append('%s is held by %s (%s): deactivate or stop it '
                            'first' % (name, holder, what))
    return problems


def looped(host, numbers):
    problems = []
    for loop in disks(host):
        backing = attr_text(host, loop, 'loop', 'backing_file')
        name = _which(host, backing, numbers) if backing else None
        if name:
            problems.append('%s backs the loop device %s' % (name, loop))
    return problems


def opened(host, numbers):
    problems = []
    for pid in host.listdir(host.proc_root):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fds = os.path.join(host.proc_root, pid, 'fd')
        for fd in host.listdir(fds):
            name = _which(host, os.path.join(fds, fd), numbers)
            if name:
                comm = (host.read(os.path.join(host.proc_root, pid, 'comm'))
                        or '?').strip()
                problems.append('%s is open in process %s (%s)'
                                % (name, pid, comm))
                break
    return problems


def exclusive(host, disk):
    try:
        host.open_exclusive(disk.node)
    except OSError as err:
        if err.errno == errno.EBUSY:
            return ['%s cannot be opened exclusively: the kernel or a '
                    'program holds it' % disk.node]
        return ['cannot open %s: %s' % (disk.node, err.strerror)]
    return []


@dataclasses.dataclass
class Signature:
    device: str
    type: str
    offset: str
    uuid: str = None
    label: str = None

    def __str__(self):
        return '%s at %s on %s' % (self.type, self.offset, self.device)


def signatures_argv(device):
    return ['wipefs', '--no-act', '--json', '--output',
            'DEVICE,OFFSET,TYPE,UUID,LABEL', device]


def parse_signatures(device, output):
    """The signatures in wipefs's JSON *output* for *device*."""
    data = json.loads(output) if output.strip() else {}
    return [Signature(device, sig.get('type') or '?',
                      sig.get('offset') or '?', sig.get('uuid'),
                      sig.get('label'))
            for sig in data.get('signatures', [])]


def probed_nodes(host, disk):
    """The device nodes of the disk and its partitions that wipefs reads
    (those whose node really is that device)."""
    names = [disk.name] + partitions(host, disk.name)
    numbers = {attr_text(host, n, 'dev'): n for n in names}
    return [node for node in [disk.node] + partition_nodes(host, disk)
            if _which(host, node, numbers)]


def named_by_host(host, numbers, found):
    """Lines of /etc/fstab and /etc/crypttab that name the disk."""
    uuids = {s.uuid.lower() for s in found if s.uuid}
    labels = {s.label for s in found if s.label}
    problems = []
    for table, column in (('fstab', 0), ('crypttab', 1)):
        path = os.path.join(host.etc_root, table)
        for line in (host.read(path) or '').splitlines():
            words = line.split()
            if line.lstrip().startswith('#') or len(words) <= column:
                continue
            spec = words[column]
            key, _, value = spec.partition('=')
            if (key == 'UUID' and value.lower() in uuids or
                    key == 'LABEL' and value in labels or
                    spec.startswith('/') and _which(host, spec, numbers)):
                problems.append('the host\'s %s names it: %r' % (
                    path, ' '.join(words[:3])))
    return problems


def partition_nodes(host, disk):
    return [os.path.join(host.dev_root, name)
            for name in partitions(host, disk.name)]
