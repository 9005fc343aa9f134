"""Which folders root may build in, and how it writes files there.

The tool runs as root and its state decides what is mounted, detached and
deleted; the folders it works in decide where.  A folder is *trusted* when
no other user can change what its path leads to:

* every existing component of the path, from ``/`` down, is a directory
  (or a symlink) owned by root or by the user running the tool;
* an ancestor writable by group or others is sticky (``/tmp``, or the
  tmpfs diskimage-builder mounts on its build folder): others can add
  names there, but not move or remove ours;
* the folder itself is writable by nobody else;
* nothing lives below ``/proc``, ``/sys`` or ``/dev``.

Folders the tool creates are made one component at a time with an exact
mode (whatever the umask) and checked again after making them, so one
planted by someone else in the meantime is refused.  Files are written by
walking from a trusted folder with ``O_NOFOLLOW`` at every component: a
symlink where a file or folder is to be written is an error, never
followed.
"""
import contextlib
import errno
import os
import stat

from diskimage_builder.block_device.errors import UsageError

SPECIAL_ROOTS = ('/proc', '/sys', '/dev')
# The params that name folders, as they are checked.
FOLDER_PARAMS = ('build-dir', 'image-dir', 'mount-base')


def trusted_uids():
    """Who may own what this tool acts on: root and this user."""
    return (0, os.geteuid())


def _components(path):
    parts = [p for p in path.split('/') if p]
    return ['/' + '/'.join(parts[:i]) for i in range(len(parts) + 1)]


def folder_problem(path, final=True):
    """What makes *path* untrusted, or None.  Components that do not exist
    yet are left for :func:`make_dirs` to create and check."""
    path = os.path.abspath(path)
    real = os.path.realpath(path)
    if any(real == top or real.startswith(top + '/')
           for top in SPECIAL_ROOTS):
        return '%s lies in %s, not a place to build in' % (
            path, real.split('/')[1] and '/' + real.split('/')[1])
    for component in _components(path):
        try:
            info = os.lstat(component)
        except FileNotFoundError:
            break
        except OSError as err:
            return 'cannot look at %s: %s' % (component, err.strerror)
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in trusted_uids():
            return ('%s is a symlink owned by uid %d: refusing to follow it'
                    % (component, info.st_uid))
    existing = [c for c in _components(real) if os.path.lexists(c)]
    for component in existing:
        problem = _dir_problem(component, os.lstat(component),
                               final and component == real)
        if problem:
            return problem
    return None


def _dir_problem(path, info, final):
    if not stat.S_ISDIR(info.st_mode):
        return '%s is not a directory' % path
    if info.st_uid not in trusted_uids():
        return '%s belongs to uid %d, not to this user or root' % (
            path, info.st_uid)
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and final:
        return ('%s is writable by other users (mode %o): chmod go-w it'
                % (path, info.st_mode & 0o7777))
    if writable and not info.st_mode & stat.S_ISVTX:
        return ('%s is writable by other users and not sticky (mode %o): '
                'they could replace what lies below it'
                % (path, info.st_mode & 0o7777))
    return None


def check_folder(path, what, final=True):
    """Raise UsageError naming *what* (a params key) if *path* is not
    trusted."""
    problem = folder_problem(path, final)
    if problem:
        raise UsageError('%s: %s' % (what, problem))


def make_dirs(path, what, mode=0o755, final=True):
    """``mkdir -p`` *path*, trusted: each missing component is made with
    *mode* exactly and checked once made.  *final* False lets *path*
    itself be a sticky /tmp-like folder (see :data:`STICKY_OK`)."""
    check_folder(path, what, final)
    path = os.path.realpath(path)
    for component in _components(path)[1:]:
        try:
            os.mkdir(component, mode)
        except FileExistsError:
            pass
        except OSError as err:
            raise UsageError('%s: cannot make %s: %s'
                             % (what, component, err.strerror))
        else:
            os.chmod(component, mode, follow_symlinks=False)
        info = os.lstat(component)
        problem = _dir_problem(component, info,
                               final and component == path)
        if problem:
            raise UsageError('%s: %s' % (what, problem))


def overlap_problems(params):
    """(params key, problem) for folders that must stay apart: a mount
    below mount-base would cover the state or the images."""
    folders = {key: os.path.realpath(params[key]) for key in FOLDER_PARAMS
               if params.get(key)}
    for key, path in sorted(folders.items()):
        if path == '/':
            yield key, 'must not be /'
    base = folders.get('mount-base')
    if not base or base == '/':
        return
    for key in ('build-dir', 'image-dir'):
        other = folders.get(key)
        if other and (other == base or other.startswith(base + '/')):
            yield key, ('%s is at or below mount-base %s: the image\'s '
                        'mounts would cover it' % (other, base))


STICKY_OK = ('build-dir', 'image-dir')


def check_params_folders(params):
    """Every folder the params name, before anything is made."""
    for key, problem in overlap_problems(params):
        raise UsageError('params.%s: %s' % (key, problem))
    for key in FOLDER_PARAMS:
        if params.get(key):
            # The build dir and the image dir may be a sticky /tmp-like
            # folder (the tmpfs diskimage-builder mounts there): the state
            # folder inside it is checked as private when it is made, an
            # image is made with O_EXCL and O_NOFOLLOW, and the sticky bit
            # keeps others from renaming or removing what root made.
            check_folder(params[key], 'params.' + key,
                         final=key not in STICKY_OK)


@contextlib.contextmanager
def opened_dir(base, relative=''):
    """An fd of *base*/*relative*, walked without following symlinks."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in [p for p in relative.split('/') if p]:
            child = _open_child(fd, part, base, relative)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_child(fd, part, base, relative, make=False, mode=0o755):
    if make:
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, mode, dir_fd=fd)
    try:
        return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                       dir_fd=fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UsageError('%s/%s: %s is a symlink or not a directory: '
                             'refusing to write through it'
                             % (base, relative, part))
        raise UsageError('%s/%s: cannot open %s: %s'
                         % (base, relative, part, err.strerror))


def make_dirs_below(base, relative, mode=0o755):
    """``mkdir -p`` *relative* below the trusted *base*; a symlink on the
    way is an error (an image tree must not redirect a mount or a file
    onto the host)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in [p for p in relative.split('/') if p]:
            child = _open_child(fd, part, base, relative, make=True,
                                mode=mode)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def write_file_below(base, relative, data, mode=0o644, keep=False):
    """Write *data* to *base*/*relative*, making missing folders; no
    component is followed if it is a symlink.  The file is replaced
    atomically (temp file and rename in its folder); with *keep*, a
    regular file already there is kept.  Returns whether it wrote."""
    folder, _, name = relative.rstrip('/').rpartition('/')
    make_dirs_below(base, folder)
    with opened_dir(base, folder) as fd:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise UsageError('%s/%s exists and is not a regular file (a '
                             'symlink?): refusing to write through it'
                             % (base, relative))
        if info is not None and keep:
            return False
        tmp = '.%s.tmp.%d' % (name, os.getpid())
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                      os.O_NOFOLLOW, mode, dir_fd=fd)
        try:
            os.fchmod(out, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(out, view):]
            os.fsync(out)
        except BaseException:
            os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise
        os.close(out)
        os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
    return True


def read_file_below(base, relative):
    """The bytes of the regular file *base*/*relative*, reached without
    following a symlink; None when there is none."""
    folder, _, name = relative.rstrip('/').rpartition('/')
    try:
        with opened_dir(base, folder) as fd:
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    except (UsageError, FileNotFoundError):
        return None
    except OSError as err:
        raise UsageError('%s/%s: cannot read it: %s'
                         % (base, relative, err.strerror))
    with os.fdopen(src, 'rb') as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise UsageError('%s/%s is not a regular file'
                             % (base, relative))
        return stream.read()


def require_root(action):
    if os.geteuid() != 0:
        raise UsageError('%s needs root: run it as root (this tool never '
                         'calls sudo itself)' % action)
