"""The disk lock the host wing holds after writing a partition table (so
udevd does not re-read the table under mkfs), on a regular file: the
lock is a BSD lock, the same on a file as on a device node."""
import fcntl
import os

import fixtures

from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device.tests.support.fakes import TestCase


class TestDiskLock(TestCase):

    def setUp(self):
        super().setUp()
        self.disk = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'disk')
        with open(self.disk, 'wb') as out:
            out.truncate(1 << 20)
        self.host = host_lib.Host()
        self.addCleanup(self.close_locks)

    def close_locks(self):
        for fd in self.host._disk_locks.values():
            os.close(fd)

    def locked_by_someone(self):
        fd = os.open(self.disk, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def test_writing_a_table_keeps_the_disk_locked(self):
        self.assertFalse(self.locked_by_someone())
        self.host.write_blocks(self.disk, [(512, b'EFI PART')])
        self.assertTrue(self.locked_by_someone())
        with open(self.disk, 'rb') as src:
            src.seek(512)
            self.assertEqual(b'EFI PART', src.read(8))
        # A second write keeps the one lock.
        self.host.write_blocks(self.disk, [(0, b'\x55\xaa')])
        self.assertEqual([self.disk], list(self.host._disk_locks))

    def test_a_disk_locked_by_another_process_times_out(self):
        fd = os.open(self.disk, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
        err = self.assertRaises(host_lib.TimedOut, self.host.lock_disk,
                                self.disk, wait=0.1)
        self.assertIn('stayed locked by another process', str(err))
        self.assertEqual({}, self.host._disk_locks)
