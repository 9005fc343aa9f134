"""Read what the kernel holds, from /sys and /proc, without commands.

Partition nodes: without a udev daemon (containers, this project's CI) the
kernel may know a partition before /dev shows it, or /dev may not be a
devtmpfs at all.  :func:`wait_for_node` polls for the node for a bounded
time and then creates it from ``/sys/class/block/<name>/dev`` itself.
"""
import os
import stat
import time

SYS_BLOCK = '/sys/class/block'


def is_mount_point(path):
    path = os.path.realpath(path)
    with open('/proc/self/mountinfo') as info:
        for line in info:
            if _unescape(line.split()[4]) == path:
                return True
    return False


def mounts_below(prefix):
    prefix = os.path.realpath(prefix)
    found = []
    with open('/proc/self/mountinfo') as info:
        for line in info:
            target = _unescape(line.split()[4])
            if target == prefix or target.startswith(prefix + '/'):
                found.append(target)
    return found


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as octal.
    return (field.replace('\\040', ' ').replace('\\011', '\t')
            .replace('\\012', '\n').replace('\\134', '\\'))


def loops_backed_by(path):
    """Loop devices whose backing file is *path*."""
    path = os.path.realpath(path)
    found = []
    try:
        names = os.listdir('/sys/block')
    except OSError:
        return found
    for name in names:
        if not name.startswith('loop'):
            continue
        backing = _read('/sys/block/%s/loop/backing_file' % name)
        if backing and backing.rstrip('\n') in (path, path + ' (deleted)'):
            found.append('/dev/' + name)
    return sorted(found)


def loops_below(folder):
    """(device, backing file) of loop devices whose file is in *folder*."""
    folder = os.path.realpath(folder)
    found = []
    try:
        names = os.listdir('/sys/block')
    except OSError:
        return found
    for name in sorted(names):
        backing = _read('/sys/block/%s/loop/backing_file' % name)
        if not name.startswith('loop') or not backing:
            continue
        backing = backing.rstrip('\n')
        if backing.endswith(' (deleted)'):
            backing = backing[:-len(' (deleted)')]
        if backing.startswith(folder + '/'):
            found.append(('/dev/' + name, backing))
    return found


def _read(path):
    try:
        with open(path) as src:
            return src.read()
    except OSError:
        return None


def read_text(path):
    """A sysfs or procfs attribute, stripped; None when it is absent."""
    text = _read(path)
    return text.strip() if text is not None else None


def kernel_name(device):
    return os.path.basename(os.path.realpath(device))


def size_bytes(device):
    """Size of a block device from sysfs (always in 512-byte units)."""
    text = _read('%s/%s/size' % (SYS_BLOCK, kernel_name(device)))
    if text is None:
        raise OSError('no sysfs entry for %s' % device)
    return int(text) * 512


def logical_block_size(device):
    text = _read('%s/%s/queue/logical_block_size'
                 % (SYS_BLOCK, kernel_name(device)))
    return int(text) if text else 512


def partition_name(disk, number, sys_block=SYS_BLOCK):
    """Kernel name of partition *number* of *disk*, or None if not (yet)
    known to the kernel: loop3p1, vdb1, nvme0n1p2..."""
    disk_name = kernel_name(disk)
    base = os.path.join(sys_block, disk_name)
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    for entry in entries:
        if not entry.startswith(disk_name):
            continue
        if (_read(os.path.join(base, entry, 'partition')) or '').strip() \
                == str(number):
            return entry
    return None


def wait_for_node(name, timeout=10.0, grace=0.2, dev_root='/dev',
                  sys_block=SYS_BLOCK, on_create=None):
    """Return ``/dev/<name>``, creating it from sysfs if it does not appear.

    Polls with a short, growing interval, bounded by *timeout*.  Once the
    kernel lists the partition, a node still missing after *grace* seconds
    (no devtmpfs, no udev) is created here; *on_create(path)* is called
    first so the caller can journal it.
    """
    path = os.path.join(dev_root, name)
    start = time.monotonic()
    delay = 0.001
    while True:
        if is_block_device(path):
            return path
        numbers = _read(os.path.join(sys_block, name, 'dev'))
        elapsed = time.monotonic() - start
        if numbers and elapsed >= grace:
            break
        if elapsed > timeout:
            raise OSError('partition %s did not appear in %s within %.0fs'
                          % (name, sys_block, timeout))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    major, minor = (int(x) for x in numbers.strip().split(':'))
    if on_create:
        on_create(path)
    if os.path.lexists(path):
        os.unlink(path)
    os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(major, minor))
    return path


def is_block_device(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False
