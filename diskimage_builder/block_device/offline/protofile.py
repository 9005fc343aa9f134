"""The protofile ``mkfs.xfs -p`` builds an xfs filesystem from
(xfsprogs 6.1): one token stream of names, modes (type, setuid, setgid,
three octal digits), owners and each file's source, folders closed by
``$``.

It carries contents, modes, owners, symlinks, device nodes and FIFOs.  It
cannot carry a name with white space or a colon (tokens are split on
white space, a colon starts a comment), the sticky bit, hard links (each
name becomes an inode of its own) or extended attributes: a folder with
any of these is refused, naming them.  File times are not in it either:
xfsprogs gives every inode the time it runs.
"""
import os
import stat

from diskimage_builder.block_device.errors import UsageError

TYPES = ((stat.S_ISREG, '-'), (stat.S_ISDIR, 'd'), (stat.S_ISLNK, 'l'),
         (stat.S_ISBLK, 'b'), (stat.S_ISCHR, 'c'), (stat.S_ISFIFO, 'p'))


def write(folder, path):
    """Write the protofile of *folder* to *path*; return *path*."""
    _check_token(folder, 'the folder the filesystem is made from')
    lines = ['xfs-from-%s' % os.path.basename(path), '0 0',
             _spec(folder, os.lstat(folder))]
    _entries(folder, lines, 1)
    lines.append('$')
    with open(path, 'w') as out:
        out.write('\n'.join(lines) + '\n')
    return path


def _entries(folder, lines, depth):
    indent = ' ' * depth
    for name in sorted(os.listdir(folder)):
        source = os.path.join(folder, name)
        _check_token(name, 'a name')
        info = os.lstat(source)
        # Hard links are refused from the scan of the tree: a staged
        # folder links every file to the tree's.
        if os.listxattr(source, follow_symlinks=False):
            raise UsageError('xfs from a protofile cannot keep extended '
                             'attributes: %s has some' % source)
        lines.append('%s%s %s' % (indent, name, _spec(source, info)))
        if stat.S_ISDIR(info.st_mode):
            _entries(source, lines, depth + 1)
            lines.append(indent + ' $')


def _spec(source, info):
    mode = info.st_mode
    if mode & stat.S_ISVTX:
        raise UsageError('xfs from a protofile cannot keep the sticky bit '
                         'of %s' % source)
    kind = next((char for test, char in TYPES if test(mode)), None)
    if kind is None:
        raise UsageError('xfs from a protofile cannot hold %s (a socket)'
                         % source)
    spec = '%s%s%s%03o %d %d' % (
        kind, 'u' if mode & stat.S_ISUID else '-',
        'g' if mode & stat.S_ISGID else '-', stat.S_IMODE(mode) & 0o777,
        info.st_uid, info.st_gid)
    if kind == '-':
        _check_token(source, 'a file\'s path')
        return spec + ' ' + source
    if kind == 'l':
        target = os.readlink(source)
        _check_token(target, 'a symlink\'s target')
        return spec + ' ' + target
    if kind in 'bc':
        return spec + ' %d %d' % (os.major(info.st_rdev),
                                  os.minor(info.st_rdev))
    return spec


def _check_token(text, what):
    if not text or any(char.isspace() or char == ':' for char in text) or \
            text == '$':
        raise UsageError('xfs from a protofile cannot hold %s with white '
                         'space or a colon in it: %r' % (what, text))
