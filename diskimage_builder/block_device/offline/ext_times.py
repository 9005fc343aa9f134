"""The debugfs script that finishes an ext filesystem made by ``mke2fs
-d``: the root folder's mode and times (mke2fs 1.47.0 leaves them its
own), and with ``SOURCE_DATE_EPOCH`` the times the kernel path's build
also resets: every change time set to the epoch, access and modification
times newer than it clamped to it.  The tree's files were linked into the
staged folder, which changed their change times; without this no two
offline builds would agree.

Names are given in debugfs's double quotes, in the folder they are in
(``cd``), so each lookup reads one folder.  A name debugfs cannot take (a
newline, a double quote) is left as mke2fs made it, and named in the
log.
"""
import logging
import os

LOG = logging.getLogger(__name__)


def script(folder, epoch=None):
    """The debugfs commands for the filesystem made from *folder*."""
    info = os.lstat(folder)
    lines = ['sif / mode 0%o' % info.st_mode] + _times('/', info, epoch)
    if epoch is None:
        return '\n'.join(lines) + '\n'
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(top, folder)
        lines.append('cd %s' % _quoted('/' if relative == '.' else
                                       '/' + relative))
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            if _quoted(name) is None:
                LOG.warning('debugfs cannot name %r: its times stay as '
                            'mke2fs made them', path)
                continue
            lines += _times(name, os.lstat(path), epoch)
    return '\n'.join(lines) + '\n'


def _times(name, info, epoch):
    """Without an epoch: the times of *info* (the root folder's own);
    with one: access and modification times clamped, the change time set
    to it."""
    quoted = _quoted(name)
    if epoch is None:
        return ['sif %s atime @%d' % (quoted, info.st_atime),
                'sif %s mtime @%d' % (quoted, info.st_mtime)]
    lines = ['sif %s %s @%d' % (quoted, field, epoch)
             for field, value in (('atime', info.st_atime),
                                  ('mtime', info.st_mtime)) if value > epoch]
    return lines + ['sif %s ctime @%d' % (quoted, epoch)]


def _quoted(name):
    if '"' in name or '\n' in name:
        return None
    return '"%s"' % name
