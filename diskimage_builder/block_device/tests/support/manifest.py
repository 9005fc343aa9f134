"""What a tree holds, entry by entry, to compare a source tree with what
an image holds; the standard library only, so that it also runs as uid
65534 under fakeroot (where the owners are fakeroot's)::

    fakeroot -i STATE python3 manifest.py TREE [SKIP...] > manifest.json

An entry (by path relative to the tree, ``.`` for the tree itself) is
its type, mode (with setuid, setgid and sticky bits), owner, group, size,
the SHA-256 of a file's bytes, a symlink's target, a device's numbers,
its ``user.*`` extended attributes, its modification time in
nanoseconds, the bytes it has allocated, and the other names of its
inode in the tree (hard links).  SKIP names paths (relative) left out
with everything below them: another filesystem's mount point, a
``lost+found``.
"""
import hashlib
import json
import os
import stat
import sys

TYPES = ((stat.S_ISREG, 'file'), (stat.S_ISDIR, 'dir'),
         (stat.S_ISLNK, 'symlink'), (stat.S_ISCHR, 'char'),
         (stat.S_ISBLK, 'block'), (stat.S_ISFIFO, 'fifo'),
         (stat.S_ISSOCK, 'socket'))


def _digest(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as src:
        for chunk in iter(lambda: src.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {name: os.getxattr(path, name, follow_symlinks=False).hex()
            for name in sorted(names) if name.startswith('user.')}


def entry(path):
    info = os.lstat(path)
    kind = next(name for test, name in TYPES if test(info.st_mode))
    found = {'type': kind, 'mode': '%04o' % stat.S_IMODE(info.st_mode),
             'uid': info.st_uid, 'gid': info.st_gid,
             'mtime_ns': info.st_mtime_ns, 'xattrs': _xattrs(path),
             'allocated': info.st_blocks * 512}
    if kind == 'file':
        found.update(size=info.st_size, sha256=_digest(path))
    elif kind == 'symlink':
        found['target'] = os.readlink(path)
    elif kind in ('char', 'block'):
        found['rdev'] = [os.major(info.st_rdev), os.minor(info.st_rdev)]
    return found, (info.st_dev, info.st_ino), info.st_nlink


def manifest(top, skip=()):
    """{relative path: entry} of the tree at *top*."""
    skip = {os.path.normpath(p) for p in skip}
    result, inodes = {'.': entry(top)[0]}, {}
    for folder, dirs, files in os.walk(top):
        relative = os.path.relpath(folder, top)
        dirs[:] = [d for d in dirs
                   if os.path.normpath(os.path.join(relative, d)) not in skip]
        for name in dirs + files:
            path = os.path.normpath(os.path.join(relative, name))
            if path in skip:
                continue
            found, inode, nlink = entry(os.path.join(folder, name))
            result[path] = found
            if nlink > 1 and found['type'] != 'dir':
                inodes.setdefault(inode, []).append(path)
    for found in result.values():
        if found['type'] == 'dir':
            del found['allocated']      # a folder's blocks are the fs's
    for names in inodes.values():
        for path in names:
            result[path]['links'] = sorted(names)
    return result


def part(entries, mount_point, nested=()):
    """The entries of a tree's manifest that the filesystem mounted at
    *mount_point* holds, relative to it: without what is below *nested*
    (other mount points, absolute), nor their folders."""
    top = mount_point.strip('/')
    below = [p.strip('/') for p in nested]
    found = {}
    for path, value in entries.items():
        relative = _relative(path, top)
        if relative is None or any(_relative(path, n) is not None
                                   for n in below):
            continue
        value = dict(value)
        if 'links' in value:
            value['links'] = sorted(_relative(p, top) for p in value['links']
                                    if _relative(p, top) is not None)
        found[relative] = value
    return found


def _relative(path, top):
    if not top:
        return path
    if path == top:
        return '.'
    if path.startswith(top + '/'):
        return path[len(top) + 1:]
    return None


def comparable(entries, times='s', holes=True, drop=()):
    """*entries* as two filesystems holding the same files agree on them:
    modification times to the second (``times='s'``), none (None) or
    as they are (``'ns'``),
    a file's allocated bytes only as whether it has holes (``holes``:
    False leaves that out), a symlink's not at all; *drop* maps paths to
    the fields left out of them."""
    result = {}
    for path, value in entries.items():
        value = dict(value)
        allocated = value.pop('allocated', None)
        if value['type'] == 'file' and holes:
            value['holes'] = allocated < value['size']
        if times == 's':
            value['mtime_ns'] //= 10 ** 9
        elif times is None:
            value.pop('mtime_ns')
        for field in dict(drop).get(path, ()):
            value.pop(field, None)
        result[path] = value
    return result


def differences(expected, actual):
    """Lines naming each entry that differs, field by field."""
    lines = []
    for path in sorted(set(expected) | set(actual)):
        want, got = expected.get(path), actual.get(path)
        if want == got:
            continue
        if want is None or got is None:
            lines.append('%s: only in the %s' % (
                path, 'image' if want is None else 'tree'))
            continue
        for field in sorted(set(want) | set(got)):
            if want.get(field) != got.get(field):
                lines.append('%s: %s is %r, not %r' % (
                    path, field, got.get(field), want.get(field)))
    return lines


if __name__ == '__main__':
    json.dump(manifest(sys.argv[1], sys.argv[2:]), sys.stdout, indent=1,
              sort_keys=True)
    sys.stdout.write('\n')
