"""How each kind of held resource is given back, and only if it is ours.

A journal entry (see :mod:`state`) names a *kind*, and in its arguments
the *identity* of what was acquired, recorded when it was acquired: an
image file's device and inode, a loop device's backing file, a mount's ID
and source device, a device node's number, a mapping's UUID, the devices
a VG or an array stands on.  The function registered here for the kind
first looks at what the system really holds:

* nothing there any more: done, nothing to do (this makes teardown
  idempotent and crash-safe);
* there, and it matches the identity, within this build's folders (the
  :class:`Scope`): it is released;
* there but not matching (a hand-edited state, a number reused by
  someone else since): :class:`NotOurs` is raised, the thing is left
  alone and the phase reports it.

A release may also finish what the resource was held for (a verity hash
tree is computed when its data device is released, see
:mod:`level1.verity`): it returns the values found, which the phase
records among the node's results.  When the build is being thrown away
(create's undo, ``delete``) the Scope says so (*discard*) and such work
is skipped.

Plugins with resources of their own (VGs, LUKS mappings, md arrays)
register them with :func:`releaser` in their module.
"""
import dataclasses
import logging
import os
import stat

from diskimage_builder.block_device import claims
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.runner import CommandError

LOG = logging.getLogger(__name__)
RELEASERS = {}
RELEASE_TOOLS = {}
# Kinds ``cleanup --from-system`` can find on the system without a
# journal (by a path or a name the config gives).
BY_NAME = set()


def releaser(kind, tools=(), by_name=False):
    """Register the release of *kind*; *tools* are the commands it runs
    (or a function of the entry's arguments giving them); *by_name*: it
    can find the resource without its recorded identity."""
    def register(func):
        RELEASERS[kind] = func
        RELEASE_TOOLS[kind] = tools
        if by_name:
            BY_NAME.add(kind)
        return func
    return register


def release_tools(kind, args):
    tools = RELEASE_TOOLS.get(kind, ())
    return tuple(tools(args) if callable(tools) else tools)


class ReleaseError(Exception):
    pass


class NotOurs(ReleaseError):
    """What an entry names is not what this build acquired: left alone."""


@dataclasses.dataclass
class Scope:
    """What releases of one build may touch, from its config.json.

    *image_paths* are the image files of its local_loop nodes; mounts are
    only ever below *mount_base*; *owner* is the build's state folder
    (claims); *from_system* marks ``cleanup --from-system``, which has no
    journal and finds things by name, within *image_dir* and
    *mount_base*; *discard*: what was built is thrown away (create's
    undo, ``delete``).
    """
    runner: object
    image_paths: frozenset = frozenset()
    mount_base: str = None
    image_dir: str = None
    owner: str = None
    from_system: bool = False
    discard: bool = False
    host: object = dataclasses.field(default_factory=lambda: host_lib.HOST)

    def check_image(self, path):
        if path not in self.image_paths:
            raise NotOurs('%s is not an image file of this build\'s config'
                          % path)

    def check_below_mount_base(self, target):
        base = self.mount_base and os.path.realpath(self.mount_base)
        real = os.path.realpath(target)
        if not base or not (real == base or real.startswith(base + '/')):
            raise NotOurs('%s is not below this build\'s mount-base %s'
                          % (target, self.mount_base))


def release(scope, entry):
    """Release *entry*; return what its release found for the node's
    results (usually None)."""
    func = RELEASERS.get(entry['kind'])
    if func is None:
        raise ReleaseError('no way known to release a %r (node %s); is the '
                           'plugin %s installed?' % (entry['kind'],
                                                     entry['node'],
                                                     entry['plugin']))
    return func(scope, entry['args'])


# -- image files --------------------------------------------------------

def file_identity(path):
    """{'dev', 'ino'} of the regular file *path* (not followed)."""
    info = os.lstat(path)
    return {'dev': info.st_dev, 'ino': info.st_ino}


@releaser('image-file')
def release_image_file(scope, args):
    path = args['path']
    scope.check_image(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode) or 'ino' in args and (
            info.st_dev, info.st_ino) != (args['dev'], args['ino']):
        raise NotOurs('%s is not the image file this build made (another '
                      'file is there now)' % path)
    if 'ino' not in args and info.st_uid not in trust.trusted_uids():
        # Journalled before it was made, and never made: another user's
        # file was in the way (a sticky image folder).
        raise NotOurs('%s belongs to uid %d: not the image file this '
                      'build made' % (path, info.st_uid))
    try:
        os.unlink(path)
    except OSError as err:
        raise ReleaseError('cannot delete %s: %s' % (path, err.strerror))


# -- loop devices -------------------------------------------------------

@releaser('loop', tools=('losetup',), by_name=True)
def release_loop(scope, args):
    """Detach the loop devices backed by this build's image file, known by
    device and inode (the process may have died between losetup and
    recording which device it got)."""
    for loop in loops_of(scope, args):
        scope.runner.run(['losetup', '--detach',
                          os.path.join(scope.host.dev_root, loop.name)])


def loops_of(scope, args):
    path = args['file']
    scope.check_image(path)
    if scope.from_system:
        # No identity without a journal: by path, and only below
        # image-dir.
        if not scope.image_dir or not os.path.realpath(path).startswith(
                os.path.realpath(scope.image_dir) + '/'):
            raise NotOurs('%s is outside image-dir %s: its loop device is '
                          'left alone' % (path, scope.image_dir))
        return [loop for loop in scope.host.loops()
                if loop.backing == os.path.realpath(path)]
    if 'ino' not in args:
        raise NotOurs('the loop entry of %s carries no identity' % path)
    # A device number recorded once losetup answered may since have been
    # reused for another file: the file decides, by its identity and the
    # path it was attached by (both: an entry edited to name another
    # file's identity must not detach that file's loop).
    real = os.path.realpath(path)
    return [loop for loop in scope.host.loops_backed_by(
        (args['dev'], args['ino'])) if loop.backing == real]


# -- mounts -------------------------------------------------------------

def mount_identity(host, target, device):
    """The identity of the mount of *device* just made on *target*."""
    for mount in reversed(host.mounts_at(target)):
        if _is_mount_of(mount, host, device):
            return {'mount_id': mount.mount_id}
    return {}


def _is_mount_of(mount, host, device, devnum=None):
    # btrfs shows an anonymous device number; its source names the device.
    devnum = devnum or host.devnum(device)
    return mount.devnum == devnum or mount.source == device


def our_mount(scope, args):
    """The topmost mount on the entry's target if it is the one this
    build made; None when nothing is mounted there; NotOurs else."""
    target = args['target']
    scope.check_below_mount_base(target)
    mounts = scope.host.mounts_at(target)
    if not mounts:
        return None
    top = mounts[-1]
    if scope.from_system:
        return top
    if 'devnum' not in args or 'mount_id' in args and \
            top.mount_id != args['mount_id'] or not (
                top.devnum == args['devnum'] or
                top.source == args.get('device')):
        raise NotOurs('%s: what is mounted there (%s, mount %d) is not the '
                      'mount this build made' % (target, top.source,
                                                 top.mount_id))
    return top


@releaser('mount', tools=('sync', 'fstrim', 'umount', 'fuser'),
          by_name=True)
def release_mount(scope, args):
    if our_mount(scope, args) is not None:
        unmount(scope.runner, args['target'])


UNMOUNT_TOOLS = ('sync', 'fstrim', 'umount', 'fuser')


def unmount(runner, target):
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


# -- device nodes -------------------------------------------------------

@releaser('device-node')
def release_device_node(scope, args):
    path = args['path']
    dev_root = os.path.realpath(scope.host.dev_root)
    if not os.path.realpath(os.path.dirname(path)).startswith(dev_root) or \
            'devnum' not in args:
        raise NotOurs('%s is not a device node this build made under %s'
                      % (path, scope.host.dev_root))
    try:
        info = scope.host.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISBLK(info.st_mode) or '%d:%d' % (
            os.major(info.st_rdev), os.minor(info.st_rdev)) != \
            args['devnum']:
        raise NotOurs('%s is not the block device node %s this build made'
                      % (path, args['devnum']))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass        # a udev removed it first


# -- claims -------------------------------------------------------------

@releaser('claim')
def release_claim(scope, args):
    if not claims.give_back(args['claim'], args['name'], scope.owner):
        raise NotOurs('the %s claim on %s is held by another build'
                      % (args['claim'], args['name']))
