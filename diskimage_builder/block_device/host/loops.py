"""Loop devices as the kernel shows them: sysfs for the list and the
backing file's path, the LOOP_GET_STATUS64 ioctl for the backing file
itself (device and inode).  A part of :class:`host.Host`."""
import dataclasses
import errno
import fcntl
import os
import struct

LOOP_GET_STATUS64 = 0x4C05
# struct loop_info64 starts with lo_device, lo_inode, lo_rdevice (u64).
_LOOP_INFO64 = struct.Struct('=QQQQQIIII64s64s32sQQ')


@dataclasses.dataclass(frozen=True)
class Loop:
    name: str                  # loop3
    devnum: str
    backing: str | None        # the path sysfs shows, " (deleted)" cut off
    deleted: bool = False


class LoopDevices:
    """The loop device readers of :class:`host.Host` (which gives them
    its roots, ``read``, ``listdir``, ``attr`` and ``block``)."""

    def loops(self):
        found = []
        for name in self.listdir(os.path.join(self.sys_root, 'block')):
            if not name.startswith('loop'):
                continue
            text = self.read(os.path.join(self.sys_root, 'block', name,
                                          'loop', 'backing_file'))
            if text is None:
                continue
            backing = text.rstrip('\n')
            deleted = backing.endswith(' (deleted)')
            if deleted:
                backing = backing[:-len(' (deleted)')]
            found.append(Loop(name, self.attr(name, 'dev') or '', backing,
                              deleted))
        return found

    def loop_backing_id(self, name):
        """(st_dev, st_ino) of the file behind loop device *name*, from
        the kernel itself; None when it has none or cannot be asked."""
        try:
            fd = os.open(os.path.join(self.dev_root, name),
                         os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = fcntl.ioctl(fd, LOOP_GET_STATUS64,
                               bytes(_LOOP_INFO64.size))
        except OSError as err:
            if err.errno == errno.ENXIO:      # not attached (any more)
                return None
            raise
        finally:
            os.close(fd)
        fields = _LOOP_INFO64.unpack(info)
        return fields[0], fields[1]

    def device_identity(self, path):
        """What tells the device at *path* from any other while the build
        holds it.  A partition of a loop device: that loop's backing file
        and the partition's number (a udev re-reads a table once it is
        written through the loop device, and the kernel gives the
        partitions new device numbers then); any other device: its
        number."""
        name = self.kernel_name(path)
        number = self.attr(name, 'partition')
        if number:
            disk = os.path.basename(os.path.dirname(os.path.realpath(
                self.block(name))))
            backing = self.loop_backing_id(disk)
            if backing:
                return {'file': list(backing), 'partition': int(number)}
        return {'devnum': self.devnum(path)}

    def backing_file(self, kname):
        """The file behind loop device *kname*, or behind the loop device
        whose partition it is; None for anything else."""
        disk = kname
        if self.attr(kname, 'partition'):
            disk = os.path.basename(os.path.dirname(os.path.realpath(
                self.block(kname))))
        for loop in self.loops():
            if loop.name == disk:
                return loop.backing
        return None

    def loops_backed_by(self, file_id):
        """The loop devices whose backing file is (st_dev, st_ino)."""
        return [loop for loop in self.loops()
                if self.loop_backing_id(loop.name) == tuple(file_id)]

    def loops_below(self, folder):
        """Loop devices whose backing path lies in *folder*."""
        folder = os.path.realpath(folder)
        return [loop for loop in self.loops()
                if loop.backing and loop.backing.startswith(folder + '/')]
