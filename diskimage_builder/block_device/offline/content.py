"""What goes into each filesystem of a build from a tree: the tree split
at the config's mount points, looked at once (how much it holds, and what
a filesystem type cannot hold), and staged where a filesystem's part is
not one folder of the tree as it is.

A filesystem mounted at ``/boot`` holds the tree's ``boot/``; the one
at ``/`` holds the rest, with ``boot`` an empty folder (a mount point), as
when the tree is copied onto the mounted filesystems.  Staging links the
tree's files into a scratch folder (hard links: nothing is copied unless
the scratch folder is on another filesystem) and makes its folders anew
with the tree's modes, owners, times and extended attributes.
"""
import dataclasses
import errno
import os
import stat

from diskimage_builder.block_device.errors import UsageError

# The examples of a problem a message names (the count says the rest).
EXAMPLES = 3
# A symlink target this long or shorter lives in the inode (ext4).
FAST_SYMLINK = 59


@dataclasses.dataclass
class Part:
    """The part of the tree one filesystem holds."""
    mount_point: str
    source: str                 # the tree's folder for it
    nested: tuple = ()          # mount points below it (relative paths)


# The block (or cluster) sizes a filesystem may choose: what a part needs
# is counted in each, in one walk.
BLOCK_SIZES = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


@dataclasses.dataclass
class Scan:
    """What one part holds, counted once."""
    entries: int = 0            # inodes: files, folders, links, nodes
    folders: int = 0
    data_bytes: int = 0         # bytes regular files take (holes are free)
    long_symlinks: int = 0      # symlinks whose target needs a block
    xattr_entries: int = 0
    largest_folder: tuple = ('', 0)
    # Blocks of each size the files' data and the folders' entries take,
    # ext's folder layout and FAT's (32-byte entries, long names).
    data_blocks: dict = dataclasses.field(default_factory=dict)
    # FAT has no holes: a sparse file takes its whole size.
    apparent_blocks: dict = dataclasses.field(default_factory=dict)
    ext_folder_blocks: dict = dataclasses.field(default_factory=dict)
    fat_folder_blocks: dict = dataclasses.field(default_factory=dict)
    problems: dict = dataclasses.field(default_factory=dict)
    # Files counted (device, inode): a hard link's data once.
    seen: set = dataclasses.field(default_factory=set, repr=False)

    def note(self, kind, path):
        self.problems.setdefault(kind, []).append(path)

    def add_blocks(self, table, used, at_least=0):
        for size in BLOCK_SIZES:
            table[size] = table.get(size, 0) + max(at_least,
                                                   -(-used // size))


def split(tree, mount_points):
    """{mount point: Part} for the mounted filesystems (*mount_points*:
    absolute paths; ``none``, swap, is left out)."""
    points = sorted(p for p in mount_points if p.startswith('/'))
    parts = {}
    for point in points:
        below = tuple(os.path.relpath(other, point) for other in points
                      if other != point and _under(other, point))
        # Only the nearest mount points below: a deeper one is in the
        # part of the filesystem in between.
        nested = tuple(p for p in below if not any(
            q != p and _under('/' + p, '/' + q) for q in below))
        parts[point] = Part(point, os.path.normpath(
            os.path.join(tree, point.lstrip('/'))), nested)
    return parts


def _under(path, top):
    return top == '/' and path != '/' or path.startswith(top.rstrip('/') +
                                                         '/')


def scan(part):
    """Count what *part* holds (its nested mount points' contents are
    another filesystem's)."""
    found = Scan()
    if not os.path.isdir(part.source):
        return found
    skip = {os.path.join(part.source, p) for p in part.nested}
    for folder, dirs, files in os.walk(part.source):
        dirs[:] = sorted(d for d in dirs
                         if os.path.join(folder, d) not in skip)
        names = dirs + files
        found.folders += 1
        found.entries += 1
        if len(names) > found.largest_folder[1]:
            found.largest_folder = (folder, len(names))
        _count_folder(found, folder, names + [
            os.path.basename(p) for p in skip
            if os.path.dirname(p) == folder])
        for name in files:
            _count_file(found, os.path.join(folder, name))
        _note_xattrs(found, folder)
    return found


def _count_folder(found, folder, names):
    ext_bytes = 24          # "." and ".."
    fat_bytes = 64
    for name in names:
        length = len(os.fsencode(name))
        ext_bytes += (8 + length + 3) // 4 * 4
        fat_bytes += 32 * (1 + -(-length // 13))
        if any(char.isspace() for char in name):
            found.note('names with white space', os.path.join(folder, name))
    found.add_blocks(found.ext_folder_blocks, ext_bytes, at_least=1)
    found.add_blocks(found.fat_folder_blocks, fat_bytes, at_least=1)


def _count_file(found, path):
    info = os.lstat(path)
    found.entries += 1
    mode = info.st_mode
    if stat.S_ISREG(mode):
        if info.st_nlink > 1:
            found.note('hard links', path)
            if (info.st_dev, info.st_ino) in found.seen:
                return
            found.seen.add((info.st_dev, info.st_ino))
        used = min(info.st_blocks * 512, info.st_size)
        found.data_bytes += used
        found.add_blocks(found.data_blocks, used)
        found.add_blocks(found.apparent_blocks, info.st_size)
    elif stat.S_ISLNK(mode):
        found.note('symlinks', path)
        if info.st_size > FAST_SYMLINK:
            found.long_symlinks += 1
    else:
        found.note('device nodes, FIFOs or sockets', path)
    _note_xattrs(found, path)


def _note_xattrs(found, path):
    try:
        if os.listxattr(path, follow_symlinks=False):
            found.xattr_entries += 1
            found.note('extended attributes', path)
    except OSError as err:
        if err.errno not in (errno.ENOTSUP, errno.EPERM):
            raise


def refuse(scan_, mount_point, fstype, kinds, why):
    """UsageError when *scan_* found any of *kinds*, which *fstype*
    cannot hold as the tree has them."""
    for kind in kinds:
        paths = scan_.problems.get(kind)
        if paths:
            raise UsageError(
                'the tree\'s part for %s (%s) has %s, which %s: %s%s' % (
                    mount_point, fstype, kind, why, ', '.join(
                        paths[:EXAMPLES]), ' and %d more' % (
                        len(paths) - EXAMPLES) if len(paths) > EXAMPLES
                    else ''))


def stage(part, folder, extra_files, runner, epoch=None):
    """*part* as one folder: its source itself when it holds no nested
    mount point and gets no extra file, else a staged copy in *folder*
    (files hard-linked where they can be).  *extra_files* maps a relative
    path to the bytes of a file the part gets unless it has one."""
    extra = {path: data for path, data in extra_files.items()
             if not os.path.lexists(os.path.join(part.source, path))}
    if not part.nested and not extra and os.path.isdir(part.source):
        return part.source
    os.makedirs(folder)
    made = _stage_tree(part, folder, runner) if os.path.isdir(
        part.source) else []
    for relative in part.nested:
        _mount_point_folder(folder, relative, epoch)
    # Deepest first, and after the mount points are made in them: adding
    # an entry to a folder changes its times (the kernel path's cp -a
    # gives the folders above a mount point the tree's times too).
    for source, target in reversed(made):
        copy_metadata(source, target)
    for relative, data in sorted(extra.items()):
        _extra_file(folder, relative, data, epoch)
    return folder


def _stage_tree(part, folder, runner):
    """Link the part's files into *folder*, make its folders; return the
    (source, staged) folders, whose metadata the caller copies."""
    skip = {os.path.join(part.source, p) for p in part.nested}
    made = []
    for source, dirs, files in os.walk(part.source):
        target = os.path.join(folder, os.path.relpath(source, part.source))
        if source != part.source:
            os.mkdir(target)
        made.append((source, target))
        for name in sorted(dirs):
            path = os.path.join(source, name)
            if path in skip:
                dirs.remove(name)
            elif os.path.islink(path):
                # os.walk lists a symlink to a folder with the folders.
                dirs.remove(name)
                _link(path, os.path.join(target, name), runner)
        for name in files:
            _link(os.path.join(source, name), os.path.join(target, name),
                  runner)
    return made


def _link(source, target, runner):
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        # Another filesystem, or a file the user may not link
        # (protected_hardlinks): a copy that keeps everything cp -a keeps.
        runner.run(['cp', '-a', '--sparse=always', '--', source, target])


def copy_metadata(source, target):
    """Owner, mode, extended attributes and times of folder *source* on
    *target*."""
    info = os.lstat(source)
    try:
        os.lchown(target, info.st_uid, info.st_gid)
    except PermissionError:
        raise UsageError('the tree\'s folder %s belongs to %d:%d, which '
                         'only root can give a folder: run the build under '
                         'fakeroot (or as root)' % (source, info.st_uid,
                                                    info.st_gid))
    os.chmod(target, stat.S_IMODE(info.st_mode))
    for name in os.listxattr(source, follow_symlinks=False):
        os.setxattr(target, name, os.getxattr(source, name,
                                              follow_symlinks=False),
                    follow_symlinks=False)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns),
             follow_symlinks=False)


def _mount_point_folder(folder, relative, epoch):
    # As the kernel path makes it below the mount base: an empty folder,
    # mode 0755, owned by whoever builds (root, or fakeroot's root).
    path = os.path.join(folder, relative)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if not os.path.isdir(path):
        os.mkdir(path, 0o755)
    os.chmod(path, 0o755)
    _stamp(path, epoch)


def _extra_file(folder, relative, data, epoch):
    path = os.path.join(folder, relative)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, 'wb') as out:
        out.write(data)
    os.chmod(path, 0o644)
    _stamp(path, epoch)


def _stamp(path, epoch):
    if epoch is not None:
        os.utime(path, (epoch, epoch), follow_symlinks=False)
