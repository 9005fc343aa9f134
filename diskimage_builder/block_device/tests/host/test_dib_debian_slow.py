"""Slow and opt-in (never in CI): a real Debian image built by
diskimage-builder 3.43.0 with this package installed over it, booted
under qemu (TCG) until it shows a login prompt on its serial console.

    DIB_SLOW_DEBIAN=1 python3 -m pytest -q -s \\
        diskimage_builder/block_device/tests/host/test_dib_debian_slow.py

``disk-image-create debian-minimal vm block-device-gpt`` runs with its
default options, debootstrapping the release this host's apt uses from
the mirror it uses (/etc/apt/sources.list*; security from debian-security
on the same host).  Overrides: ``DIB_RELEASE``,
``DIB_DISTRIBUTION_MIRROR``, ``DIB_DEBIAN_SECURITY_MIRROR``, and
``DIB_SLOW_DEBIAN_ARGS`` (more disk-image-create options, e.g.
``--no-tmpfs``).  Needs network, root, debootstrap and
qemu-system-x86_64.
"""
import os
import shlex
import subprocess
import time

import fixtures
import pytest

from diskimage_builder.block_device.tests.support.dib import debian
from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support.dib import imagecheck
from diskimage_builder.block_device.tests.support.dib import venvs
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import harness

pytestmark = pytest.mark.host

ENABLE = 'DIB_SLOW_DEBIAN'
BUILD_TIMEOUT = 3 * 3600
# Under TCG the kernel, the initramfs and systemd take minutes.
BOOT_TIMEOUT = 1200


class TestDebianImageBoots(harness.FunctionalTestCase):

    def setUp(self):
        if os.environ.get(ENABLE) != '1':
            self.skipTest('slow (debootstrap from the network and a TCG '
                          'boot): set %s=1 to run it' % ENABLE)
        super().setUp()
        imagecheck.require_tools(self, 'sudo', 'debootstrap', 'qemu-img',
                                 'qemu-system-x86_64')
        try:
            self.venv = venvs.require('dropin')
        except venvs.VenvError as err:
            self.fail(str(err))
        self.root = self.useFixture(fixtures.TempDir(
            rootdir='/var/tmp')).path
        self.addCleanup(dibrun.release_everything_below, self.root)

    def mirror_environment(self):
        found = debian.debian_mirror(debian.apt_sources())
        if found is None:
            self.fail('no Debian source in %s to debootstrap from'
                      % debian.SOURCES)
        mirror, security, release = found
        return {
            'DIB_DISTRIBUTION_MIRROR': os.environ.get(
                'DIB_DISTRIBUTION_MIRROR', mirror),
            'DIB_DEBIAN_SECURITY_MIRROR': os.environ.get(
                'DIB_DEBIAN_SECURITY_MIRROR', security),
            'DIB_RELEASE': os.environ.get('DIB_RELEASE', release),
        }

    def build(self):
        out = os.path.join(self.root, 'out')
        os.mkdir(out, 0o700)
        tmp = os.path.join(self.root, 'tmp')
        os.mkdir(tmp, 0o700)
        # TMP_DIR: the build and image folders below self.root, so what
        # is left behind is this test's.
        env = dict(dibrun.venv_environment(), TMP_DIR=tmp,
                   **self.mirror_environment())
        argv = ([self.venv.bin('disk-image-create'), '-o', 'debian'] +
                shlex.split(os.environ.get('DIB_SLOW_DEBIAN_ARGS', '')) +
                ['debian-minimal', 'vm', 'block-device-gpt'])
        log = os.path.join(self.root, 'disk-image-create.log')
        started = time.monotonic()
        with open(log, 'w') as dst:
            status = subprocess.run(argv, cwd=out, env=env, stdout=dst,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    timeout=BUILD_TIMEOUT).returncode
        print('disk-image-create: %.0fs, status %d, %s'
              % (time.monotonic() - started, status, ' '.join(
                  '%s=%s' % item for item in sorted(
                      self.mirror_environment().items()))))
        with open(log, errors='replace') as src:
            tail = ''.join(src.readlines()[-60:])
        self.assertEqual(0, status, tail)
        return os.path.join(out, 'debian.qcow2')

    def test_boots_to_login_prompt(self):
        image = self.build()
        self.assertEqual([], held.leftovers(self.root))
        console = os.path.join(self.root, 'console.log')
        booted, seconds = debian.boot_to_login(image, console, BOOT_TIMEOUT)
        tail = debian.read_console(console)[-3000:].decode(errors='replace')
        print('boot to login prompt: %.0fs; console ends with:\n%s' % (
            seconds, '\n'.join(tail.splitlines()[-4:])))
        self.assertTrue(booted, 'no login prompt within %ds; console '
                        'tail:\n%s' % (BOOT_TIMEOUT, tail))
