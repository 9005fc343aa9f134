"""build: a tree of odd files into an image, checked inside the image."""
import os
import stat
import subprocess
import sys

import fixtures

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import ReadBack


LONG_NAME = 'l' * 255
ODD_NAME = 'ünïcödé ☃ name'


def make_tree(root):
    os.makedirs(os.path.join(root, 'etc'))
    os.makedirs(os.path.join(root, 'srv', 'data'))
    with open(os.path.join(root, 'etc', 'hosts'), 'w') as out:
        out.write('127.0.0.1 localhost\n')
    os.link(os.path.join(root, 'etc', 'hosts'),
            os.path.join(root, 'srv', 'hosts-link'))
    with open(os.path.join(root, 'srv', 'sparse'), 'wb') as out:
        out.truncate(64 << 20)
        out.seek(32 << 20)
        out.write(b'middle')
    os.mkfifo(os.path.join(root, 'srv', 'fifo'))
    with open(os.path.join(root, 'srv', LONG_NAME), 'w') as out:
        out.write('long\n')
    with open(os.path.join(root, 'srv', ODD_NAME), 'w') as out:
        out.write('odd\n')
    os.symlink('../etc/hosts', os.path.join(root, 'srv', 'link'))
    os.mknod(os.path.join(root, 'srv', 'null'), 0o666 | stat.S_IFCHR,
             os.makedev(1, 3))
    secret = os.path.join(root, 'srv', 'data', 'owned')
    with open(secret, 'w') as out:
        out.write('owned\n')
    os.chown(secret, 1234, 5678)
    os.chmod(secret, 0o4750)
    os.setxattr(os.path.join(root, 'etc', 'hosts'), 'user.origin', b'test')


class TestBuild(base.FunctionalTestCase):

    def build(self, *extra):
        work = self.useFixture(fixtures.TempDir(rootdir='/var/tmp')).path
        tree = os.path.join(work, 'tree')
        make_tree(tree)
        output = os.path.join(work, 'out', 'disk.' + (
            'qcow2' if '--compress' in extra else 'raw'))
        os.makedirs(os.path.dirname(output))
        proc = base.run([sys.executable, '-m',
                         'diskimage_builder.block_device',
                         'build', '--root', tree, '--output', output] +
                        list(extra), check=False, cwd=base.REPO)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual([os.path.basename(output)],
                         os.listdir(os.path.dirname(output)))
        self.assertEqual([], held.leftovers(work))
        return work, output

    def check_inside(self, image):
        back = self.useFixture(ReadBack(image))
        root = back.mount(back.partition(1), 'ext4')
        srv = os.path.join(root, 'srv')
        hosts = os.stat(os.path.join(root, 'etc', 'hosts'))
        self.assertEqual(hosts.st_ino,
                         os.stat(os.path.join(srv, 'hosts-link')).st_ino)
        self.assertEqual(2, hosts.st_nlink)
        self.assertEqual(b'test', os.getxattr(
            os.path.join(root, 'etc', 'hosts'), 'user.origin'))
        sparse = os.stat(os.path.join(srv, 'sparse'))
        self.assertEqual(64 << 20, sparse.st_size)
        self.assertLess(sparse.st_blocks * 512, 1 << 20)
        with open(os.path.join(srv, 'sparse'), 'rb') as src:
            src.seek(32 << 20)
            self.assertEqual(b'middle', src.read(6))
        self.assertTrue(stat.S_ISFIFO(os.lstat(os.path.join(
            srv, 'fifo')).st_mode))
        with open(os.path.join(srv, LONG_NAME)) as src:
            self.assertEqual('long\n', src.read())
        with open(os.path.join(srv, ODD_NAME)) as src:
            self.assertEqual('odd\n', src.read())
        self.assertEqual('../etc/hosts', os.readlink(os.path.join(
            srv, 'link')))
        null = os.lstat(os.path.join(srv, 'null'))
        self.assertTrue(stat.S_ISCHR(null.st_mode))
        self.assertEqual(os.makedev(1, 3), null.st_rdev)
        owned = os.lstat(os.path.join(srv, 'data', 'owned'))
        self.assertEqual((1234, 5678, 0o4750),
                         (owned.st_uid, owned.st_gid,
                          stat.S_IMODE(owned.st_mode)))
        with open(os.path.join(root, 'etc', 'fstab')) as src:
            self.assertEqual('LABEL=root / ext4 defaults 0 1\n', src.read())

    def test_raw(self):
        _, output = self.build()
        self.check_inside(output)

    def test_compressed_qcow2(self):
        if subprocess.run(['which', 'qemu-img'],
                          capture_output=True).returncode:
            self.fail('qemu-img (qemu-utils) is not installed: run-tests '
                      'installs it')
        work, output = self.build('--compress', '--size', '512MiB')
        info = base.run(['qemu-img', 'info', output]).stdout
        self.assertIn('file format: qcow2', info)
        self.assertIn('virtual size: 512 MiB', info)
        raw = os.path.join(work, 'back.raw')
        base.run(['qemu-img', 'convert', '-O', 'raw', output, raw])
        self.check_inside(raw)

    def test_failure_leaves_nothing(self):
        work = self.useFixture(fixtures.TempDir(rootdir='/var/tmp')).path
        tree = os.path.join(work, 'tree')
        make_tree(tree)
        with open(os.path.join(tree, 'big'), 'wb') as out:
            out.write(os.urandom(48 << 20))
        output = os.path.join(work, 'out', 'disk.raw')
        os.makedirs(os.path.dirname(output))
        proc = base.run([sys.executable, '-m',
                         'diskimage_builder.block_device',
                         'build', '--root', tree, '--output', output,
                         '--size', '40MiB'], check=False, cwd=base.REPO)
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertIn('No space left on device', proc.stderr)
        self.assertEqual([], os.listdir(os.path.dirname(output)))
        self.assertEqual([], held.leftovers(work))
