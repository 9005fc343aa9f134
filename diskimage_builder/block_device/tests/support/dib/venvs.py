"""The two throwaway virtualenvs the diskimage-builder tier runs against.

* ``upstream``: ``pip install diskimage-builder==3.43.0``, nothing else:
  the real ``disk-image-create`` with upstream's own block-device layer.
* ``dropin``: the same, then ``pip install <this checkout>`` over it:
  exactly the two commands README.rst gives users.

Both live in a cache folder outside the checkout (``DIB_TEST_VENVS``,
default ``/var/tmp/dib-block-device-tests``).  A venv is reused only when
its stamp file says it was built from the same inputs: the requirement
and interpreter for ``upstream``, plus a hash of every file pip packages
from the checkout for ``dropin``, so a changed checkout gets a fresh
``dropin``.  The stamp is written last: a half-built venv has none.

Run on the host before the VM tier (the VM sees the host's files read
only and cannot build them)::

    python -m diskimage_builder.block_device.tests.support.dib.venvs [--check]

Each venv is also packed into ``<name>.squashfs`` beside it, which the VM
tests mount over the venv's folder (:class:`MountedInVm`): the guest
reaches host files over 9p, where every stat is a round trip, and under
TCG one phase of upstream's layer spent 55 s importing its ~1600 modules
from there (8 s from a local filesystem).
"""
import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import fixtures

DIB_REQUIREMENT = 'diskimage-builder==3.43.0'
DEFAULT_CACHE = '/var/tmp/dib-block-device-tests'
STAMP = 'dib-test-stamp.json'
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..', '..'))
# What pip builds the dropin from (pbr reads setup.cfg; the code is the
# package folder).
CHECKOUT_INPUTS = ('setup.cfg', 'setup.py', 'pyproject.toml',
                   'requirements.txt', 'diskimage_builder')
# pip installs the tests too, but no phase imports them: editing a test
# must not make the VM tier find its venv stale.
NOT_INPUTS = (os.path.join('diskimage_builder', 'block_device', 'tests'),)
# Part of every stamp: a change in how the venvs are made rebuilds them.
# 2: with a squashfs image beside each.
BUILD_FORMAT = 2
# Long enough for a slow mirror, short enough to fail a hung test run.
PIP_TIMEOUT = 900


class VenvError(Exception):
    """A venv the tests need is missing or could not be built; the
    message says why (a test failure, never a skip)."""


def cache_dir():
    return os.environ.get('DIB_TEST_VENVS', DEFAULT_CACHE)


class Venv:
    """One venv under the cache folder."""

    def __init__(self, name, root=None):
        self.name = name
        self.path = os.path.join(root or cache_dir(), name)

    @property
    def squashfs(self):
        return self.path + '.squashfs'

    @property
    def python(self):
        return os.path.join(self.path, 'bin', 'python')

    def bin(self, command):
        return os.path.join(self.path, 'bin', command)

    @property
    def package_dir(self):
        """The installed ``diskimage_builder`` package folder."""
        found = glob.glob(os.path.join(self.path, 'lib', 'python3*',
                                       'site-packages', 'diskimage_builder'))
        if not found:
            raise VenvError('%s has no diskimage_builder package'
                            % self.path)
        return found[0]

    @property
    def block_device_script(self):
        """What disk-image-create runs for each block-device phase:
        ``${DIB_PYTHON_EXEC} ${_LIB}/dib-block-device.py PHASE``."""
        return os.path.join(self.package_dir, 'lib', 'dib-block-device.py')

    def element(self, name):
        return os.path.join(self.package_dir, 'elements', name)

    def stamp(self):
        try:
            with open(os.path.join(self.path, STAMP)) as src:
                return json.load(src)
        except (OSError, ValueError):
            return None


def checkout_hash(repo=REPO):
    """sha256 over the relative path and bytes of every file pip would
    package from *repo* (byte-compiled files and the tests left out)."""
    digest = hashlib.sha256()
    for name in CHECKOUT_INPUTS:
        top = os.path.join(repo, name)
        for path in sorted(_files_below(top)):
            relative = os.path.relpath(path, repo)
            if relative.startswith(tuple(p + os.sep for p in NOT_INPUTS)):
                continue
            digest.update(relative.encode() + b'\0')
            with open(path, 'rb') as src:
                digest.update(src.read() + b'\0')
    return digest.hexdigest()


def _files_below(top):
    if os.path.isfile(top):
        yield top
        return
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in files:
            if not name.endswith('.pyc'):
                yield os.path.join(folder, name)


def wanted(python=sys.executable, repo=REPO):
    """{venv name: (stamp it must have, pip commands that build it)}."""
    interpreter = os.path.realpath(python)
    upstream = {'requirement': DIB_REQUIREMENT, 'python': interpreter,
                'format': BUILD_FORMAT}
    dropin = dict(upstream, checkout=os.path.realpath(repo),
                  checkout_hash=checkout_hash(repo))
    return {
        'upstream': (upstream, [[DIB_REQUIREMENT]]),
        'dropin': (dropin, [[DIB_REQUIREMENT], [os.path.realpath(repo)]]),
    }


def _run(argv, what):
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=PIP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VenvError('%s: %s failed: %s' % (what, ' '.join(argv), err))
    if proc.returncode:
        tail = '\n'.join(proc.stdout.splitlines()[-25:])
        raise VenvError('%s: %s exited %d:\n%s' % (
            what, ' '.join(argv), proc.returncode, tail))


@contextlib.contextmanager
def _staged(args):
    """*args* with a local folder replaced by a copy of it: setuptools
    writes its build folder and egg-info into the tree it builds, and
    an egg-info in the checkout would add its entry points to those of
    the editable install whenever Python runs from there.  The copy
    keeps .git, from which pbr takes the version."""
    folders = [a for a in args if os.path.isdir(a)]
    if not folders:
        yield args
        return
    with tempfile.TemporaryDirectory(prefix='dib-dropin-') as tmp:
        copies = {}
        for folder in folders:
            copies[folder] = os.path.join(tmp, os.path.basename(folder))
            shutil.copytree(folder, copies[folder], symlinks=True,
                            ignore=shutil.ignore_patterns(
                                '__pycache__', '*.pyc', 'build',
                                '*.egg-info', '.tox', '.test-results'))
        yield [copies.get(a, a) for a in args]


def build(venv, stamp, installs, python=sys.executable):
    """Make *venv* afresh: ``python -m venv``, then one ``pip install``
    per entry of *installs*, then its squashfs image; the stamp goes in
    last."""
    if shutil.which('mksquashfs') is None:
        raise VenvError('mksquashfs not found (Debian: squashfs-tools); '
                        'the VM tier mounts the venvs from squashfs images')
    shutil.rmtree(venv.path, ignore_errors=True)
    _run([python, '-m', 'venv', venv.path], venv.name)
    for args in installs:
        with _staged(args) as staged:
            _run([venv.python, '-m', 'pip', 'install', '--quiet',
                  '--disable-pip-version-check'] + staged, venv.name)
    # Uncompressed: decompressing costs more than reading under TCG.
    _run(['mksquashfs', venv.path, venv.squashfs, '-noappend', '-quiet',
          '-no-progress', '-noI', '-noD', '-noF', '-noX'], venv.name)
    with open(os.path.join(venv.path, STAMP), 'w') as dst:
        json.dump(stamp, dst, indent=1, sort_keys=True)


def problems(python=sys.executable, repo=REPO, root=None):
    """Why each venv cannot be used as it is ([] when both can)."""
    found = []
    for name, (stamp, _installs) in sorted(wanted(python, repo).items()):
        venv = Venv(name, root)
        if venv.stamp() is None or not os.path.exists(venv.squashfs):
            found.append('%s: %s is missing or half built'
                         % (name, venv.path))
        elif venv.stamp() != stamp:
            found.append('%s: %s is stale (built from other inputs)'
                         % (name, venv.path))
    return found


def ensure(python=sys.executable, repo=REPO, root=None, log=None):
    """Build whichever venv is missing or stale; returns {name: Venv}.
    One process at a time (a lock file in the cache folder)."""
    root = root or cache_dir()
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        venvs = {}
        for name, (stamp, installs) in sorted(wanted(python, repo).items()):
            venv = venvs[name] = Venv(name, root)
            if venv.stamp() == stamp and os.path.exists(venv.squashfs):
                continue
            if log:
                log('building the %s venv in %s' % (name, venv.path))
            build(venv, stamp, installs, python)
        return venvs


def require(name):
    """The venv *name* for a test.  On the host it is built when missing
    or stale; in the VM (read-only host files) it must already be right.
    Raises VenvError with the reason otherwise."""
    if os.environ.get('DIB_VM_TIER') == '1':
        wrong = [p for p in problems() if p.startswith(name + ':')]
        if wrong:
            raise VenvError('%s; run "python -m diskimage_builder.'
                            'block_device.tests.support.dib.venvs" on the '
                            'host before the VM tier' % wrong[0])
        return Venv(name)
    return ensure()[name]


class MountedInVm(fixtures.Fixture):
    """In the VM, *venv*'s squashfs image mounted over its folder until
    the fixture's cleanup (same paths, so the shebangs of its scripts
    still hold); on the host, nothing."""

    def __init__(self, venv):
        self.venv = venv

    def _setUp(self):
        if os.environ.get('DIB_VM_TIER') != '1':
            return
        _run(['mount', '-t', 'squashfs', '-o', 'ro,loop',
              self.venv.squashfs, self.venv.path], self.venv.name)
        self.addCleanup(subprocess.run, ['umount', self.venv.path])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m '
             'diskimage_builder.block_device.tests.support.dib.venvs',
        description='Build (or with --check only test) the upstream and '
                    'dropin venvs of the diskimage-builder test tier in '
                    '%s (DIB_TEST_VENVS).' % cache_dir())
    parser.add_argument('--check', action='store_true',
                        help='build nothing; exit 1 if a venv is missing '
                             'or stale')
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    try:
        venvs = ensure(log=lambda line: print(line, flush=True))
    except VenvError as err:
        print('venvs: %s' % err, file=sys.stderr)
        return 1
    for name, venv in sorted(venvs.items()):
        print('%s: %s' % (name, venv.path))
    return 0


if __name__ == '__main__':
    sys.exit(main())
