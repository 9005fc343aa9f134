"""How each kind of held resource is given back.

A journal entry (see :mod:`state`) names a *kind* and its arguments; the
function registered here for that kind releases it.  Every release first
looks at what the system really holds, so it is safe to call for a
resource that was never fully acquired or is already gone: that is what
makes teardown idempotent and crash-safe.  Plugins with resources of their
own (VG activations, LUKS mappings, md arrays) register them with
:func:`releaser` in their module.
"""
import errno
import logging
import os

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
    try:
        runner.run(['umount', target])
    except CommandError as err:
        holders = who_holds(runner, target)
        raise ReleaseError('cannot unmount %s: %s%s' % (
            target, err.output.strip() or err,
            '; held by: ' + holders if holders else ''))


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


def release(runner, entry):
    func = RELEASERS.get(entry['kind'])
    if func is None:
        raise ReleaseError('no way known to release a %r (node %s); is the '
                           'plugin %s installed?' % (entry['kind'],
                                                     entry['node'],
                                                     entry['plugin']))
    func(runner, entry['args'])
