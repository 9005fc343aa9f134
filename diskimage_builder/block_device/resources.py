"""How each kind of held resource is given back.

A journal entry (see :mod:`state`) names a *kind* and its arguments; the
function registered here for that kind releases it.  Every release first
looks at what the system really holds, so it is safe to call for a
resource that was never fully acquired or is already gone: that is what
makes teardown idempotent and crash-safe.  Plugins with resources of their
own (VG activations, LUKS mappings, md arrays) register them with
:func:`releaser` in their module.
"""
import contextlib
import errno
import json
import logging
import os
import urllib.parse

from diskimage_builder.block_device import sysfs
from diskimage_builder.block_device.runner import CommandError

LOG = logging.getLogger(__name__)
RELEASERS = {}


def releaser(kind):
    def register(func):
        RELEASERS[kind] = func
        return func
    return register


class ReleaseError(Exception):
    pass


@releaser('mount')
def release_mount(runner, args):
    target = args['target']
    if not sysfs.is_mount_point(target):
        return
    trim(runner, target)
    try:
        runner.run(['umount', target])
    except CommandError as err:
        holders = who_holds(runner, target)
        raise ReleaseError('cannot unmount %s: %s%s' % (
            target, err.output.strip() or err,
            '; held by: ' + holders if holders else ''))


def trim(runner, target):
    """Give the blocks the filesystem at *target* does not use back to
    the device below (an image file gets holes there), as
    diskimage-builder does before unmounting: the image converts to a
    smaller qcow2.  The sync commits pending deletes first: blocks freed
    in an open transaction are not trimmed.  A filesystem or device that
    cannot discard is left as it is; trimming is never worth failing a
    teardown over."""
    runner.run(['sync', '--file-system', target], check=False)
    result = runner.run(['fstrim', target], check=False)
    if result.returncode and 'not supported' not in result.stderr:
        LOG.warning('fstrim %s: %s', target, result.stderr.strip())


def who_holds(runner, target):
    """Processes using a mount, as fuser lists them (best effort)."""
    try:
        result = runner.run(['fuser', '-vm', target], check=False)
    except CommandError:
        return ''
    lines = [line.strip() for line in
             (result.stderr + result.stdout).splitlines()[1:] if line.strip()]
    return ', '.join(lines)


@releaser('loop')
def release_loop(runner, args):
    # Found by backing file, not by the recorded device number: the process
    # may have died between losetup and recording its answer.
    for device in sysfs.loops_backed_by(args['file']):
        runner.run(['losetup', '--detach', device])


@releaser('device-node')
def release_device_node(runner, args):
    try:
        os.unlink(args['path'])
    except FileNotFoundError:
        pass


@releaser('image-file')
def release_image_file(runner, args):
    try:
        os.unlink(args['path'])
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise ReleaseError('cannot delete %s: %s'
                               % (args['path'], err.strerror))


# Host-wide claims on names that must be unique across parallel builds.
# /run is a tmpfs: claims vanish with a reboot, as do the devices.
CLAIMS_DIR = '/run/dib-block-device/claims'


class ClaimError(Exception):
    pass


def claim_path(kind, name, claims_dir=None):
    return os.path.join(claims_dir or CLAIMS_DIR,
                        '%s:%s' % (kind, urllib.parse.quote(name, safe='')))


def claim(kind, name, owner, claims_dir=None):
    """Take *name* for the build whose state folder is *owner*."""
    path = claim_path(kind, name, claims_dir)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            holder = _claim_holder(path)
            if holder == owner:
                return
            if holder and _owner_alive(holder, path):
                raise ClaimError('%s %s is in use by the build whose state '
                                 'is %s' % (kind, name, holder))
            # The build that claimed it is gone (cleaned up, or its state
            # folder deleted by hand): the claim is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        with os.fdopen(fd, 'w') as out:
            out.write(owner)
        return


def _claim_holder(path):
    try:
        with open(path) as src:
            return src.read().strip()
    except FileNotFoundError:
        return None


def _owner_alive(owner, path):
    try:
        with open(os.path.join(owner, 'state.json')) as src:
            journal = json.load(src).get('journal', [])
    except (OSError, ValueError):
        return False
    return any(e.get('kind') == 'claim' and
               claim_path(e['args']['claim'], e['args']['name'],
                          os.path.dirname(path)) == path for e in journal)


@releaser('claim')
def release_claim(runner, args):
    path = claim_path(args['claim'], args['name'], args.get('claims_dir'))
    if _claim_holder(path) == args['owner']:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def drop_claims_of(owner, claims_dir=None):
    """Remove every claim held by the build whose state is *owner*."""
    folder = claims_dir or os.environ.get('DIB_BD_CLAIMS_DIR') or CLAIMS_DIR
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if _claim_holder(path) == owner:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def release(runner, entry):
    func = RELEASERS.get(entry['kind'])
    if func is None:
        raise ReleaseError('no way known to release a %r (node %s); is the '
                           'plugin %s installed?' % (entry['kind'],
                                                     entry['node'],
                                                     entry['plugin']))
    func(runner, entry['args'])
