"""The code before the renovation of its structure (commit 64f5354, the
last of state format 2 written by the old node classes) against today's:
the same commands in the same order for diskimage-builder's configs the
host kernel builds, and a build the old code made torn down by today's
(a builder upgraded between create and cleanup).

The old code is taken from this checkout's git history; a checkout
without it (an sdist) fails here rather than skipping."""
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import fixtures
import testtools

from diskimage_builder.block_device.tests.support.compat import REPO
from diskimage_builder.block_device.tests.support.compat import \
    compat_path

OLD_COMMIT = '64f5354'
# The configs of diskimage-builder the host kernel can build (no vfat,
# device-mapper or md here; the VM tier has those).
HOST_CONFIGS = ('block-device-gpt--default.yaml',
                'block-device-gpt--ppc64el.yaml',
                'block-device-mbr--default.yaml',
                'block-device-mbr--ppc64el.yaml')


def old_code(folder):
    """Unpack the package as it was at OLD_COMMIT into *folder*."""
    try:
        archive = subprocess.run(
            ['git', '-C', REPO, 'archive', '--format=tar', OLD_COMMIT,
             'diskimage_builder'], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise AssertionError('this test needs the git history of %s (commit '
                             '%s): %s' % (REPO, OLD_COMMIT, getattr(
                                 err, 'stderr', b'').decode() or err))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter='data')
    return folder


class Release:
    """One phase runner over one checkout of the package (None: today's)."""

    def __init__(self, work, code=None):
        self.work = work
        self.code = code
        self.params = os.path.join(work, 'params.yaml')
        self.log = os.path.join(work, 'commands.jsonl')

    def write(self, config_path):
        with open(config_path) as src, \
                open(os.path.join(self.work, 'config.yaml'), 'w') as out:
            out.write(src.read())
        with open(self.params, 'w') as out:
            out.write('config: %(w)s/config.yaml\nbuild-dir: %(w)s/build\n'
                      'image-dir: %(w)s/images\nmount-base: %(w)s/mnt\n'
                      'image-size: 2GiB\nroot-fs-type: ext4\nroot-label:\n'
                      % {'w': self.work})
        os.makedirs(os.path.join(self.work, 'build'), mode=0o700)

    def phase(self, *args):
        env = dict(os.environ, DIB_BD_COMMAND_LOG=self.log,
                   PYTHONPATH=self.code or REPO)
        proc = subprocess.run(
            [sys.executable, '-m', 'diskimage_builder.block_device',
             '--params', self.params, *args], env=env, capture_output=True,
            text=True, cwd=self.work)
        if proc.returncode:
            raise AssertionError('%s (%s) failed:\n%s' % (
                ' '.join(args), self.code or 'today', proc.stderr))
        return proc

    def commands(self):
        """The commands run, with what differs between two runs (loop
        device numbers, the work folder) made the same."""
        with open(self.log) as log:
            lines = [json.loads(line)['argv'] for line in log]
        return [[re.sub(r'/dev/loop\d+', '/dev/loopN',
                        arg.replace(self.work, '<work>')) for arg in argv]
                for argv in lines]


class TestOlderRelease(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # Unseeded: a seeded ext build now passes one -E list where the
        # old code passed two (and mke2fs kept only the last).
        self.useFixture(fixtures.EnvironmentVariable('SOURCE_DATE_EPOCH'))
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_SEED'))
        self.old = old_code(self.useFixture(fixtures.TempDir()).path)

    def release(self, code=None):
        work = self.useFixture(fixtures.TempDir()).path
        build = Release(work, code)
        self.addCleanup(self.release_all, build)
        return build

    @staticmethod
    def release_all(build):
        # Today's code releases whatever either made (and the test of
        # that is below); nothing is left if a phase failed half way.
        Release(build.work).phase('delete')

    def test_same_commands_in_the_same_order(self):
        for name in HOST_CONFIGS:
            runs = []
            for code in (self.old, None):
                build = self.release(code)
                build.write(compat_path(name))
                for args in (('init',), ('create',), ('writefstab',),
                             ('umount',), ('cleanup',)):
                    build.phase(*args)
                runs.append(build.commands())
            self.assertNotEqual([], runs[0], name)
            self.assertEqual(runs[0], runs[1], name)

    def test_a_build_of_the_old_code_tears_down_with_todays(self):
        old = self.release(self.old)
        old.write(compat_path('block-device-gpt--default.yaml'))
        old.phase('init')
        old.phase('create')
        mount_base = os.path.join(old.work, 'mnt')
        self.assertTrue(os.path.ismount(mount_base))
        today = Release(old.work)
        image = os.path.join(old.work, 'images', 'image0.raw')
        loops = subprocess.run(['losetup', '--associated', image],
                               capture_output=True, text=True).stdout
        self.assertNotEqual('', loops)
        today.phase('umount')
        self.assertFalse(os.path.ismount(mount_base))
        self.assertEqual('', subprocess.run(
            ['losetup', '--associated', image], capture_output=True,
            text=True).stdout)
        today.phase('cleanup')
        self.assertFalse(os.path.exists(os.path.join(
            old.work, 'build', 'states', 'block-device')))
        today.phase('delete')
        self.assertTrue(os.path.exists(image))   # cleanup keeps the image
