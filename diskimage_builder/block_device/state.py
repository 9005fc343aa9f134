"""The state folder ``<build-dir>/states/block-device/``: the only thing
the phases share.  Each phase is a fresh process that reads it, works, and
writes it back.

``config.json``
    written by ``init``: params, and every node in creation order.
``state.json``
    written by ``create`` and the teardown phases: each node's results
    (devices, UUIDs) and the *journal*, the list of resources held.
The ``states`` folder above it is flock'ed by every phase, so two
processes never interleave.

Files are JSON (never pickles), written atomically (temp file, fsync,
rename) with mode 0600, and carry a format version.  A journal entry is
written *before* the side effect it records, and every release checks what
is really held, so whatever kills a phase, teardown from this file alone
releases exactly what is left.
"""
import contextlib
import errno
import fcntl
import json
import logging
import os

from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import StateError

LOG = logging.getLogger(__name__)


class JournalError(BlockDeviceError):
    """The journal could not be written (a full or read-only disk)."""


# 2: journal entries carry the identity of what they hold.
FORMAT_VERSION = 2


def state_dir(build_dir):
    return os.path.join(build_dir, 'states', 'block-device')


def write_json(path, data):
    """Replace *path* with *data* atomically and durably, mode 0600."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    try:
        with os.fdopen(fd, 'w') as out:
            json.dump(data, out, indent=1, sort_keys=True)
            out.write('\n')
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(os.path.dirname(path) or '.', os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path, what):
    """Load a versioned JSON file; None when it does not exist."""
    try:
        with open(path) as src:
            data = json.load(src)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise StateError('%s is damaged (%s); release what the build holds '
                         'with: dib-block-device cleanup --from-system'
                         % (path, err))
    if not isinstance(data, dict) or data.get('version') != FORMAT_VERSION:
        raise StateError('%s is %s format %r, this tool reads format %d; '
                         'release what the build holds with: '
                         'dib-block-device cleanup --from-system'
                         % (path, what, isinstance(data, dict)
                            and data.get('version'), FORMAT_VERSION))
    return data


def check_trusted(folder):
    """Refuse a state folder another user could tamper with (see
    :mod:`trust`): the state decides what root unmounts and deletes."""
    trust.check_folder(folder, 'the state folder')


@contextlib.contextmanager
def locked(folder, create=False, shared=False):
    """Hold the build's lock for the duration of a phase, taken before
    anything of the state is read; yields whether the state folder exists
    (``init`` creates it: *create*).

    The lock is the ``states`` folder above the state folder, which no
    phase removes: ``cleanup`` removing the state folder cannot pull the
    lock from under a process waiting for it, and a phase that gets the
    lock after a cleanup finds no state rather than making one anew.
    """
    if create:
        trust.make_dirs(folder, 'the state folder', mode=0o700)
    else:
        trust.check_folder(folder, 'the state folder')
    try:
        fd = os.open(os.path.dirname(folder), os.O_RDONLY | os.O_DIRECTORY |
                     os.O_NOFOLLOW)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) |
                        fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StateError('%s is in use by another dib-block-device '
                             'process' % folder)
        yield os.path.isdir(folder)
    finally:
        os.close(fd)


RELEASE_PHASES = ('umount', 'cleanup', 'delete')


def _journal_problem(data):
    """What is wrong with the shape of a state file, or None: a state
    edited by hand must not steer teardown into doing something odd."""
    if not isinstance(data.get('results'), dict):
        return 'results is not a mapping'
    if not isinstance(data.get('next_id'), int):
        return 'next_id is not a number'
    journal = data.get('journal')
    if not isinstance(journal, list):
        return 'journal is not a list'
    for index, entry in enumerate(journal):
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(key), str)
                for key in ('node', 'plugin', 'kind')) or \
                not isinstance(entry.get('args'), dict) or \
                entry.get('released_by') not in RELEASE_PHASES:
            return 'journal entry %d is malformed' % index
    return None


def load_config(folder):
    """``config.json`` as init wrote it."""
    path = os.path.join(folder, 'config.json')
    data = read_json(path, 'a config file')
    if data is None:
        raise StateError('%s does not exist: run dib-block-device init '
                         'first' % path)
    return data


def load_build(params):
    """config.json of the build of *params*, its params checked again as
    at init (the folders may have changed hands since)."""
    data = load_config(state_dir(params['build-dir']))
    trust.check_params_folders(data['params'])
    return data


class State:
    """Node results and the journal of held resources (``state.json``)."""

    def __init__(self, folder, data=None):
        self.folder = folder
        self.path = os.path.join(folder, 'state.json')
        self.data = data or {'version': FORMAT_VERSION, 'results': {},
                             'journal': [], 'next_id': 1}

    @classmethod
    def load(cls, folder):
        path = os.path.join(folder, 'state.json')
        data = read_json(path, 'a state file')
        if data is None:
            return None
        problem = _journal_problem(data)
        if problem:
            raise StateError('%s is damaged (%s); release what the build '
                             'holds with: dib-block-device cleanup '
                             '--from-system' % (path, problem))
        return cls(folder, data)

    # Set when a save failed during a teardown (a full disk): the release
    # goes on with the journal in memory, and the phase reports it.
    unsaved = None

    def save(self):
        """Save now; a failure is a JournalError (create must not go on
        to a side effect its journal does not hold)."""
        try:
            write_json(self.path, self.data)
        except OSError as err:
            raise JournalError('cannot save the journal %s: %s'
                               % (self.path, err.strerror or err))
        self.unsaved = None

    def save_if_possible(self):
        """Save, or remember why not: a teardown keeps releasing with the
        journal in memory (releasing again what the file still lists is
        safe: every release checks what is really held)."""
        try:
            self.save()
        except JournalError as err:
            if self.unsaved is None:
                LOG.error('%s; going on with the journal in memory', err)
            self.unsaved = err

    # -- node results -----------------------------------------------------
    def results(self, name):
        return self.data['results'].get(name, {})

    def record(self, name, **values):
        """Keep what node *name* found.  Saved with the next journal
        entry or at the end of create, not at once: teardown needs only
        the journal, and one fsync per partition would make a table of
        128 partitions slow."""
        self.data['results'].setdefault(name, {}).update(values)

    # -- journal ----------------------------------------------------------
    @property
    def journal(self):
        return self.data['journal']

    def hold(self, node, plugin, kind, released_by='umount', **args):
        """Journal a resource about to be acquired; saved before returning.

        *released_by* is the first phase that gives it back: ``umount``
        (mounts, mappings, loop devices), ``cleanup`` (host-wide name
        claims) or ``delete`` (image files).
        """
        entry = {'id': self.data['next_id'], 'node': node, 'plugin': plugin,
                 'kind': kind, 'released_by': released_by, 'args': args}
        self.data['next_id'] += 1
        self.journal.append(entry)
        self.save()
        return entry

    def update(self, entry, **args):
        entry['args'].update(args)
        self.save()

    def drop(self, entry):
        self.data['journal'] = [e for e in self.journal
                                if e['id'] != entry['id']]
        self.save_if_possible()
