"""The host wing: every read of /sys, /proc and /dev, every device node
made and every bounded wait for the kernel, behind one :class:`Host`.

Plugins and releasers ask a Host what the kernel holds (mounts, loop
devices and the files behind them, device-mapper devices, md arrays,
partitions, holders) instead of parsing kernel files themselves.  Tests
point a Host's roots at a fake tree (tests/support).

What the kernel shows and this module relies on:

* ``/proc/self/mountinfo`` names each mount by an ID unique while it is
  mounted, with the device number of what is mounted (btrfs shows an
  anonymous one; its source field names the device);
* ``/sys/block/loopN/loop/backing_file`` is the path the backing file had
  when it was attached (`` (deleted)`` appended once removed); the file
  itself, as device and inode, comes from the LOOP_GET_STATUS64 ioctl;
* ``/sys/class/block/<name>/{dev,partition,holders,slaves,dm/name,
  dm/uuid,md/uuid}`` give numbers, partition numbers and the stacking.

Without a udev daemon (containers, CI) the kernel may know a partition
before /dev shows it, or /dev may be no devtmpfs: :meth:`Host.wait_for_node`
polls for a bounded time and then makes the node from sysfs itself.
"""
import dataclasses
import errno
import fcntl
import os
import re
import stat
import time

from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.host.loops import Loop  # noqa: F401
from diskimage_builder.block_device.host.loops import LoopDevices

BLKRRPART = 0x125F


@dataclasses.dataclass(frozen=True)
class Mount:
    mount_id: int
    devnum: str        # major:minor as mountinfo shows it
    target: str
    fstype: str
    source: str


@dataclasses.dataclass(frozen=True)
class DmDevice:
    name: str          # the device-mapper name (vg-lv, cryptroot)
    kname: str         # dm-3
    uuid: str          # LVM-..., CRYPT-LUKS2-...
    devnum: str


class TimedOut(BlockDeviceError):
    """A bounded wait for the kernel ran out."""


def unescape(field):
    """A mountinfo or swaps field: space, tab, newline and backslash are
    octal escapes there."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


class Host(LoopDevices):
    """Where the system is read; tests point the roots at a fake tree."""

    def __init__(self, sys_root='/sys', dev_root='/dev', proc_root='/proc',
                 etc_root='/etc', run_root='/run'):
        self.sys_root = sys_root
        self.dev_root = dev_root
        self.proc_root = proc_root
        self.etc_root = etc_root
        self.run_root = run_root
        # device path -> fd holding a BSD lock on it, for this process.
        self._disk_locks = {}

    # -- files ----------------------------------------------------------
    def read(self, path, binary=False):
        try:
            with open(path, 'rb' if binary else 'r') as src:
                return src.read()
        except (OSError, UnicodeDecodeError):
            return None

    def listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def stat(self, path):
        return os.stat(path)

    def lstat(self, path):
        return os.lstat(path)

    def block(self, name, *attr):
        return os.path.join(self.sys_root, 'class', 'block', name, *attr)

    def attr(self, name, *attr):
        """A sysfs attribute of block device *name*, stripped; None when
        absent."""
        text = self.read(self.block(name, *attr))
        return text.strip() if text is not None else None

    # -- devices --------------------------------------------------------
    def kernel_name(self, device):
        return os.path.basename(os.path.realpath(device))

    def devnum(self, path):
        """``major:minor`` of the block device at *path*, else None."""
        try:
            info = self.stat(path)
        except OSError:
            return None
        if not stat.S_ISBLK(info.st_mode):
            return None
        return '%d:%d' % (os.major(info.st_rdev), os.minor(info.st_rdev))

    def is_block_device(self, path):
        return self.devnum(path) is not None

    def size_bytes(self, device):
        """Size of a block device from sysfs (always 512-byte units)."""
        text = self.attr(self.kernel_name(device), 'size')
        if text is None:
            raise OSError('no sysfs entry for %s' % device)
        return int(text) * 512

    def logical_block_size(self, device):
        text = self.attr(self.kernel_name(device), 'queue',
                         'logical_block_size')
        return int(text) if text else 512

    def holders(self, name):
        return self.listdir(self.block(name, 'holders'))

    def slaves(self, name):
        return self.listdir(self.block(name, 'slaves'))

    def partitions(self, disk):
        """Kernel names of the partitions of *disk* the kernel lists."""
        return [entry for entry in self.listdir(self.block(disk))
                if entry.startswith(disk) and
                self.attr(disk, entry, 'partition')]

    def partition_name(self, disk, number):
        """Kernel name of partition *number* of *disk* (a node or a kernel
        name), or None if the kernel does not list it (yet)."""
        disk = self.kernel_name(disk)
        # The name the kernel gives it (block/partitions/core.c: a "p"
        # after a disk name ending in a digit), looked up first: scanning
        # every partition for each would make a table of n partitions
        # cost n squared reads.
        usual = '%s%s%d' % (disk, 'p' if disk[-1:].isdigit() else '', number)
        if self.attr(disk, usual, 'partition') == str(number):
            return usual
        for entry in self.partitions(disk):
            if self.attr(disk, entry, 'partition') == str(number):
                return entry
        return None

    def write_blocks(self, device, writes, reread=False):
        """Write (offset, bytes) pairs to *device*, durably; with
        *reread*, have the kernel drop the partitions it knew and read the
        new table (BLKRRPART).  The disk stays locked (:meth:`lock_disk`)
        until this process ends."""
        self.lock_disk(device)
        fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
        try:
            for offset, data in writes:
                os.pwrite(fd, data, offset)
            os.fsync(fd)
            if reread:
                fcntl.ioctl(fd, BLKRRPART)
        except OSError as err:
            raise BlockDeviceError('cannot write to %s: %s'
                                   % (device, err.strerror or err))
        finally:
            os.close(fd)

    def lock_disk(self, device, wait=30):
        """Hold an exclusive BSD lock on *device* until this process ends.

        Closing a disk opened for writing makes udevd re-read its
        partition table (BLKRRPART) unless someone holds such a lock:
        the partitions vanish and come back while mkfs is opening one
        ("/dev/loop0p1 does not exist").  udevd's own probes hold a
        shared lock for a moment, hence the bounded wait."""
        if device in self._disk_locks:
            return
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimedOut('%s stayed locked by another process '
                                   'for %d s' % (device, wait))
                time.sleep(0.02)
        self._disk_locks[device] = fd

    def tune(self, path, value):
        """Set the kernel tunable *path* (below the sysfs root); False
        when it cannot be set."""
        try:
            with open(os.path.join(self.sys_root, path), 'w') as knob:
                knob.write(value)
        except OSError:
            return False
        return True

    def reread_partitions(self, node):
        fd = os.open(node, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, BLKRRPART)
        finally:
            os.close(fd)

    def reread_until_gone(self, node, left, wait):
        """Have the kernel re-read the table of *node* until *left()*
        (its partitions) is empty or *wait* seconds passed: udev may still
        be probing a partition (EBUSY) after a wipe."""
        deadline = time.monotonic() + wait
        while left():
            try:
                self.reread_partitions(node)
                return
            except OSError as err:
                if err.errno != errno.EBUSY or time.monotonic() > deadline:
                    return
            time.sleep(0.2)

    def open_exclusive(self, path):
        os.close(os.open(path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC))

    # -- mounts ---------------------------------------------------------
    def mounts(self):
        """Every mount this process sees, in mount order."""
        found = []
        text = self.read(os.path.join(self.proc_root, 'self', 'mountinfo'))
        for line in (text or '').splitlines():
            head, sep, tail = line.partition(' - ')
            fields, rest = head.split(), tail.split()
            if not sep or len(fields) < 5 or len(rest) < 2:
                continue
            found.append(Mount(int(fields[0]), fields[2], unescape(fields[4]),
                               rest[0], unescape(rest[1])))
        return found

    def mounts_at(self, target):
        """The mounts on *target*, the topmost last."""
        target = os.path.realpath(target)
        return [m for m in self.mounts() if m.target == target]

    def is_mount_point(self, path):
        return bool(self.mounts_at(path))

    def mounts_below(self, prefix):
        prefix = os.path.realpath(prefix)
        return [m.target for m in self.mounts()
                if m.target == prefix or m.target.startswith(prefix + '/')]

    # -- device-mapper --------------------------------------------------
    def dm_devices(self):
        """{dm name: DmDevice} of every device-mapper device."""
        found = {}
        for kname in self.listdir(os.path.join(self.sys_root, 'block')):
            if not kname.startswith('dm-'):
                continue
            name = self.attr(kname, 'dm', 'name')
            if name:
                found[name] = DmDevice(name, kname,
                                       self.attr(kname, 'dm', 'uuid') or '',
                                       self.attr(kname, 'dev') or '')
        return found

    def devices_under(self, kname):
        """Kernel names of the devices below *kname*, through dm and md
        layers (its slaves, their slaves...), bottom ones only."""
        found, todo, seen = set(), [kname], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            slaves = self.slaves(name)
            if slaves:
                todo.extend(slaves)
            elif name != kname:
                found.add(name)
        return sorted(found)

    # -- md -------------------------------------------------------------
    def md_arrays(self):
        """Kernel names (md127) of the md arrays the kernel lists."""
        return [name for name in self.listdir(os.path.join(self.sys_root,
                                                           'block'))
                if name.startswith('md') and self.listdir(self.block(
                    name, 'md'))]

    def udev_running(self):
        """Whether a udev daemon runs (it re-assembles md members, makes
        and removes links on its own)."""
        return os.path.exists(os.path.join(self.run_root, 'udev', 'control'))

    # -- waiting and device nodes ---------------------------------------
    def poll(self, probe, timeout, what):
        """Call *probe* until it returns something true, for at most
        *timeout* seconds, with a short and growing interval; return its
        value or raise TimedOut naming *what*."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimedOut('%s did not happen within %.0fs'
                               % (what, timeout))
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def wait_for_node(self, name, timeout=10.0, grace=0.2, on_create=None):
        """``<dev>/<name>``, made from sysfs if no udev or devtmpfs makes
        it: once the kernel lists the device, a node still missing after
        *grace* seconds is made here (*on_create(path, devnum)* is called
        first, so the caller can journal it)."""
        path = os.path.join(self.dev_root, name)
        start = time.monotonic()

        def ready():
            if self.is_block_device(path):
                return 'node'
            if self.attr(name, 'dev') and \
                    time.monotonic() - start >= grace:
                return 'sysfs'
            return None
        if self.poll(ready, timeout, '%s in %s' % (name, self.sys_root)) \
                == 'node':
            return path
        devnum = self.attr(name, 'dev')
        if on_create:
            on_create(path, devnum)
        self.make_node(path, devnum)
        return path

    def make_node(self, path, devnum, mode=0o660):
        """A block device node *path* for ``major:minor`` *devnum*; an
        old entry at the path (a stale link) is replaced."""
        major, minor = (int(x) for x in devnum.split(':'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.mknod(path, mode | stat.S_IFBLK, os.makedev(major, minor))


HOST = Host()
