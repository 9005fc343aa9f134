"""What a node's ``check`` and ``create`` act through: one statement of
each action, two ways of carrying it out.

:class:`RealContext` runs the commands, journals every resource before it
is acquired, makes files and nodes.  :class:`RecordingContext` runs the
very same node code and does none of it: it records the commands (``plan``
lists them, ``create --check`` checks their tools exist), the resources
held (``cleanup --from-system`` looks for them when the journal is lost)
and the host-wide names claimed (``create`` takes them all before its
first change).  Values only a real run knows (a loop device, a UUID a
tool printed) are placeholders there, ``<device of image0>``, one per
value; the host is read but never written, waited on or changed.

The node code states each action once:

``ctx.run(argv, stdin=, env=, when=, needed=)``
    a command; *needed* (a function) says whether a conditional command
    runs, *when* says so in words for the plan.
``ctx.hold(node, kind, released_by, **identity)`` / ``ctx.update``
    journal a resource before acquiring it, complete its identity after;
    ``ctx.drop(entry)`` once create itself gave it back (a mount made
    only for a moment).
``ctx.record(node, **values)``, ``ctx.results(name)``, ``ctx.device(name)``
    what a node found, for later nodes and phases.
``ctx.claim(node, kind, name)``
    a host-wide name (an image path, a VG...).
``ctx.known(value, what)``, ``ctx.verify(condition, message)``
    a value a command must have given (a placeholder when recording), a
    fact a real run must find; ``ctx.pending(what)``: a value only a
    later phase gives (None, a placeholder when recording).
``ctx.secret(read)``
    a key, read only when really needed.
``ctx.make_dirs``, ``ctx.make_dirs_below``, ``ctx.make_file``,
``ctx.write_blocks``, ``ctx.tune``, ``ctx.say``
    the side effects that are not commands, and telling the user.
"""
import errno
import logging
import os
import types

from diskimage_builder.block_device import claims
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.repro import Repro
from diskimage_builder.block_device.runner import Result

LOG = logging.getLogger('diskimage_builder.block_device')
PLACEHOLDER = '<%s>'
# What a placeholder looks like in an argument: <device of root>.
PLACEHOLDER_PATTERN = r'<[a-z][a-z _-]* of [^<>\s]+>'


def placeholder(what):
    return PLACEHOLDER % what


def frozen(mapping):
    """A read-only view of a copy of *mapping*."""
    return types.MappingProxyType(dict(mapping))


def is_placeholder(value):
    return isinstance(value, str) and value.startswith('<') and \
        value.endswith('>')


class Context:
    """What every context shares: the params, the nodes, the plan, the
    host and the reproducibility settings."""

    def __init__(self, params, nodes, planned, host=None, repro=None):
        self.params = params
        self.nodes = {node.name: node for node in nodes}
        self.planned = planned
        self.host = host or host_lib.HOST
        self.repro = repro or Repro()

    def plan_of(self, name):
        from diskimage_builder.block_device.node import Planned
        return self.planned.get(name) or Planned()


class RealContext(Context):
    """Does it: runs, journals, writes."""

    def __init__(self, runner, state, params, nodes, planned, host=None,
                 repro=None):
        super().__init__(params, nodes, planned, host, repro)
        self.runner = runner
        self.state = state

    def run(self, argv, stdin=None, env=None, when=None, needed=None,
            check=True):
        if needed is not None and not needed():
            return None
        return self.runner.run(argv, stdin=stdin, check=check, env=env)

    def hold(self, node, kind, released_by='umount', **identity):
        return self.state.hold(node.name, node.plugin, kind, released_by,
                               **identity)

    def update(self, entry, **identity):
        self.state.update(entry, **identity)

    def drop(self, entry):
        self.state.drop(entry)
        if self.state.unsaved is not None:
            raise self.state.unsaved

    def record(self, node, **values):
        self.state.record(node.name, **values)

    def results(self, name):
        return types.MappingProxyType(self.state.results(name))

    def device(self, name):
        device = self.state.results(name).get('device')
        if not device:
            raise BlockDeviceError('node %s provides no block device' % name)
        return device

    def claim(self, node, kind, name):
        """Take a host-wide name for this build (journaled first; a name
        create took before its first change is held already)."""
        owner = os.path.realpath(self.state.folder)
        if any(e['kind'] == 'claim' and e['args']['claim'] == kind and
               e['args']['name'] == name for e in self.state.journal):
            return
        # Held until cleanup: between umount and cleanup the builder still
        # converts the image.
        self.hold(node, 'claim', released_by='cleanup', claim=kind,
                  name=name, owner=owner)
        try:
            claims.take(kind, name, owner)
        except claims.ClaimError as err:
            raise UsageError(str(err))

    def known(self, value, what):
        if not value:
            raise BlockDeviceError('missing: %s' % what)
        return value

    def verify(self, condition, message):
        """Raise *message* unless *condition*: a fact of the host a real
        run must find (a recording cannot know it)."""
        if not condition:
            raise BlockDeviceError(message)

    def pending(self, what):
        """A value a later phase works out (a verity root hash, at
        umount): not known during create."""
        return None

    def secret(self, read):
        return read()

    def make_dirs(self, path, what, mode=0o755, final=True):
        trust.make_dirs(path, what, mode, final)

    def make_dirs_below(self, base, relative):
        trust.make_dirs_below(base, relative)

    def make_file(self, path, size):
        """A new sparse file *path* of *size* bytes (an image of an
        earlier build there is replaced, a symlink there removed, never
        followed); returns its identity (device and inode).  In a sticky
        folder a file another user put there is theirs: refused."""
        try:
            owner = os.lstat(path).st_uid
        except FileNotFoundError:
            pass
        else:
            if owner not in trust.trusted_uids():
                raise OSError(errno.EEXIST, 'belongs to uid %d: not '
                              'replacing it' % owner, path)
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     os.O_NOFOLLOW, 0o644)
        try:
            info = os.fstat(fd)
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        return {'dev': info.st_dev, 'ino': info.st_ino}

    def write_blocks(self, device, writes, reread=False):
        self.host.write_blocks(device, writes, reread)

    def tune(self, path, value):
        """Set a kernel tunable (a file in /sys); False if it cannot be."""
        return self.host.tune(path, value)

    def say(self, message, *args):
        """Tell the user what is being done (a recording is silent)."""
        LOG.info(message, *args)


class CheckContext(RealContext):
    """For ``check``: reads the host and runs read-only commands for
    real; makes and holds nothing."""

    def __init__(self, runner, params, nodes, planned, host=None,
                 repro=None):
        super().__init__(runner, None, params, nodes, planned, host, repro)

    def _refuse(self, *args, **kwargs):
        raise AssertionError('check() must not change anything')

    hold = update = drop = record = claim = make_dirs = \
        make_dirs_below = make_file = write_blocks = tune = _refuse


class RecordingContext(Context):
    """Carries out nothing; records what would be done (see the module
    doc).  *phase* names what is being recorded (``preflight`` for
    ``check``, ``create``)."""

    def __init__(self, params, nodes, planned, host=None, repro=None):
        super().__init__(params, nodes, planned,
                         RecordingHost(host or host_lib.HOST), repro)
        self.commands = []      # {'node', 'phase', 'argv', 'when'}
        self.holds = []         # (node, kind, released_by, args)
        self.claims = []        # (node, kind, name)
        self.recorded = {}
        self.refused = []       # what the host would refuse, as messages
        self.current = None
        self.phase = 'create'

    def record_node(self, node, phase, method):
        """Run *node*'s *method* (check or create), recording."""
        self.current, self.phase = node, phase
        return method(self)

    def run(self, argv, stdin=None, env=None, when=None, needed=None,
            check=True):
        entry = {'node': self.current.name, 'phase': self.phase,
                 'argv': [str(arg) for arg in argv]}
        if when:
            entry['when'] = when
        self.commands.append(entry)
        return Result(entry['argv'], 0, '', '')

    def hold(self, node, kind, released_by='umount', **identity):
        entry = {'node': node.name, 'plugin': node.plugin, 'kind': kind,
                 'released_by': released_by, 'args': dict(identity)}
        self.holds.append(entry)
        return entry

    def update(self, entry, **identity):
        entry['args'].update(identity)

    def drop(self, entry):
        self.holds.remove(entry)

    def record(self, node, **values):
        self.recorded.setdefault(node.name, {}).update(values)

    def results(self, name):
        return Recorded(name, self.recorded.get(name, {}))

    def device(self, name):
        return placeholder('device of %s' % name)

    def claim(self, node, kind, name):
        self.claims.append((node, kind, name))

    def known(self, value, what):
        return value or placeholder(what)

    def verify(self, condition, message):
        return None

    def pending(self, what):
        return placeholder(what)

    def secret(self, read):
        return b''

    def _nothing(self, *args, **kwargs):
        return {}

    make_dirs = make_dirs_below = make_file = write_blocks = tune = _nothing

    def say(self, message, *args):
        return None


class Recorded(dict):
    """A node's recorded results; what only a real run knows is a
    placeholder (``<uuid of mkfs_root>``)."""

    def __init__(self, name, values):
        super().__init__(values)
        self.name = name

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return placeholder('%s of %s' % (key, self.name))

    def __missing__(self, key):
        return self.get(key)


class RecordingHost:
    """The host as a recording sees it: read, never written or waited
    on.  A read of something this build has not made yet (a placeholder
    device) finds nothing; a wait returns a placeholder at once."""

    def __init__(self, host):
        self._host = host

    def __getattr__(self, name):
        return getattr(self._host, name)

    def poll(self, probe, timeout, what):
        return probe() or placeholder(what)

    def wait_for_node(self, name, **kwargs):
        return os.path.join(self._host.dev_root, name)

    def devnum(self, path):
        if is_placeholder(path):
            return placeholder('number of %s' % path.strip('<>'))
        return self._host.devnum(path)

    def is_block_device(self, path):
        return True

    def make_node(self, path, devnum, mode=0o660):
        return None

    def reread_partitions(self, node):
        return None

    def reread_until_gone(self, node, left, wait):
        return None

    def open_exclusive(self, path):
        if is_placeholder(path):
            return None
        return self._host.open_exclusive(path)

    def write_blocks(self, device, writes, reread=False):
        return None

    def tune(self, path, value):
        return None
