"""A virtualenv an unprivileged user (uid 65534, nobody) can run this
checkout from, for the tests of ``build --offline`` as no root.

The test interpreter cannot serve: it may live where nobody cannot read
(a pyenv below /root, mode 0700).  So this is Debian's ``/usr/bin/python3``
with a real, non-editable ``pip install`` of the checkout (an install is
what registers the plugins' entry points with stevedore), in a folder
others may read and run but not write::

    /var/tmp/dib-block-device-tests/      root's, 0755
        user-<hash>/bin/python3           the venv, root's, 0755
        user-<hash>/dib-user-stamp.json   written last: a venv without it
                                          is half built
        .user-venv.lock                   flock: one builder at a time

*hash* is a hash of what pip installs from the checkout (setup files and
the package, its tests left out: no phase imports them; the README is
copied for pbr, not hashed), of the interpreter's version and of
:data:`FORMAT`, so a changed checkout gets a venv of its own and two
checkouts never rebuild each other's.  A venv unused for
:data:`KEEP_SECONDS` (each test class that uses one touches its stamp)
is removed when another one is built.

A missing prerequisite (``/usr/bin/python3``, its ``venv`` module,
``setpriv``) or a failed install raises :class:`Missing`, an
AssertionError naming what to install: the test using it fails, it is
never skipped.
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from diskimage_builder.block_device.tests.support.compat import REPO

PYTHON = '/usr/bin/python3'
CACHE = '/var/tmp/dib-block-device-tests'
USER = 65534
STAMP = 'dib-user-stamp.json'
# Part of the hash: a change in how the venv is made rebuilds it.
FORMAT = 1
KEEP_SECONDS = 3600
# What pip builds the package from (pbr reads setup.cfg, and the README
# it names, which changes nothing installed: not hashed).
INPUTS = ('setup.cfg', 'setup.py', 'pyproject.toml', 'requirements.txt',
          'diskimage_builder')
NOT_HASHED = ('README.rst',)
NOT_INPUTS = (os.path.join('diskimage_builder', 'block_device', 'tests'),)
PIP_TIMEOUT = 900


class Missing(AssertionError):
    """What the user venv needs is not there, or it could not be built:
    the message says how to get it."""


def cache_dir():
    return os.environ.get('DIB_USER_VENV_CACHE', CACHE)


def input_files(repo=REPO):
    """The relative paths pip installs from, sorted."""
    found = []
    for entry in INPUTS:
        path = os.path.join(repo, entry)
        if os.path.isfile(path):
            found.append(entry)
            continue
        for folder, dirs, files in os.walk(path):
            relative = os.path.relpath(folder, repo)
            dirs[:] = sorted(d for d in dirs if d != '__pycache__' and
                             os.path.join(relative, d) not in NOT_INPUTS)
            found += [os.path.join(relative, name) for name in sorted(files)
                      if not name.endswith(('.pyc', '.pyo'))]
    return sorted(found)


def source_hash(repo=REPO, python_version=''):
    digest = hashlib.sha256(b'format %d\n%s\n' % (
        FORMAT, python_version.encode()))
    for relative in input_files(repo):
        with open(os.path.join(repo, relative), 'rb') as src:
            data = src.read()
        digest.update(b'%s %d\n' % (relative.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


def prerequisites():
    """None when everything the venv and its use need is installed, else
    what is missing and how to get it."""
    problems = []
    if not os.access(PYTHON, os.X_OK):
        problems.append('%s (apt-get install python3)' % PYTHON)
    elif subprocess.run([PYTHON, '-c', 'import venv, ensurepip'],
                        capture_output=True).returncode:
        problems.append('the venv module of %s (apt-get install '
                        'python3-venv)' % PYTHON)
    if shutil.which('setpriv') is None:
        problems.append('setpriv (apt-get install util-linux)')
    if not problems:
        return None
    return ('cannot run a build as uid %d: missing %s; tools/run-tests '
            'installs them' % (USER, ', '.join(problems)))


def python_version():
    return subprocess.run([PYTHON, '-c', 'import sys; print(sys.version)'],
                          capture_output=True, text=True).stdout.strip()


def ensure(repo=REPO):
    """The path of the venv's python3, built first when it is not there
    for this checkout as it is now."""
    problem = prerequisites()
    if problem:
        raise Missing(problem)
    cache = cache_dir()
    _own_folder(cache)
    key = source_hash(repo, python_version())
    venv = os.path.join(cache, 'user-' + key[:16])
    with open(os.path.join(cache, '.user-venv.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(venv, STAMP)
        if not _stamp_matches(stamp, key):
            _prune(cache, keep=venv)
            _build(venv, repo, key)
        os.utime(stamp)
    return os.path.join(venv, 'bin', 'python3')


def _own_folder(path):
    """*path* as a folder of root's that others may read, not write."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    info = os.lstat(path)
    if info.st_uid != os.geteuid() or not os.path.isdir(path) or \
            os.path.islink(path):
        raise Missing('%s is not a folder of uid %d: remove it, the user '
                      'venv is built there' % (path, os.geteuid()))
    os.chmod(path, 0o755)


def _stamp_matches(stamp, key):
    try:
        with open(stamp) as src:
            return json.load(src).get('hash') == key
    except (OSError, ValueError):
        return False


def _prune(cache, keep):
    """Remove the user venvs not used for KEEP_SECONDS, and a half-built
    *keep*."""
    limit = time.time() - KEEP_SECONDS
    for name in os.listdir(cache):
        path = os.path.join(cache, name)
        if not name.startswith('user-') or not os.path.isdir(path):
            continue
        try:
            used = os.stat(os.path.join(path, STAMP)).st_mtime
        except FileNotFoundError:
            used = 0
        if path == keep or used < limit:
            shutil.rmtree(path, ignore_errors=True)


def _build(venv, repo, key):
    """Make the venv and install a copy of the checkout's inputs into it
    (a copy: a build/ folder or egg-info left in the checkout must not
    leak into the install)."""
    old_umask = os.umask(0o022)
    try:
        _run([PYTHON, '-m', 'venv', venv], 'make the venv')
        with tempfile.TemporaryDirectory(prefix='dib-user-src-') as copy:
            for relative in input_files(repo) + list(NOT_HASHED):
                target = os.path.join(copy, relative)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(os.path.join(repo, relative), target)
            # pbr takes the version from git; the copy has none.
            env = dict(os.environ, PBR_VERSION='0.0.0',
                       PIP_DISABLE_PIP_VERSION_CHECK='1')
            _run([os.path.join(venv, 'bin', 'pip'), 'install', '-q', copy],
                 'pip install the checkout', env=env)
        with open(os.path.join(venv, STAMP), 'w') as out:
            json.dump({'hash': key, 'checkout': repo, 'python': PYTHON},
                      out, indent=1)
    finally:
        os.umask(old_umask)


def _run(argv, what, env=None):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=PIP_TIMEOUT)
    if proc.returncode:
        raise Missing('the user venv: cannot %s (%s exited %d):\n%s%s' % (
            what, ' '.join(argv), proc.returncode, proc.stdout,
            proc.stderr))


def as_user(argv, env=None, uid=USER):
    """*argv* run as *uid* with no capabilities and no way to gain any
    (no_new_privs, an empty bounding set: a setuid program it starts does
    not make it root), in a clean environment plus *env*."""
    variables = dict({'HOME': '/tmp', 'LANG': 'C.UTF-8',
                      'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}, **(env or {}))
    return ['setpriv', '--reuid', str(uid), '--regid', str(uid),
            '--clear-groups', '--no-new-privs', '--inh-caps=-all',
            '--bounding-set=-all', 'env', '-i'] + [
        '%s=%s' % item for item in sorted(variables.items())] + list(argv)


if __name__ == '__main__':
    print(ensure())
    sys.exit(0)
