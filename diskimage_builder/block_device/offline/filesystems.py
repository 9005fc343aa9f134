"""Each filesystem type made from a folder, into a region of the image
file, by its own tool and no kernel:

ext2/3/4
    ``mke2fs -d FOLDER -E offset=N IMAGE SIZEk``, in place.
vfat
    ``mkfs.vfat`` into a scratch file, told what it would read from the
    partition (start sector, geometry), then mtools (``mmd``, ``mcopy -p
    -m``) folder by folder in sorted order, so two builds agree; copied
    in sparsely.
btrfs
    ``mkfs.btrfs --rootdir`` into a scratch file, copied in sparsely.
xfs
    ``mkfs.xfs -p PROTOFILE`` into a scratch file (the protofile written
    from the folder), copied in sparsely.
swap
    ``mkswap`` on a scratch file, copied in.

The argv starts from the mkfs node's own (label, UUID, the config's
options, seeded arguments), so the filesystems are the ones the kernel
path makes, up to what the tools write differently into a file.
"""
import logging
import os
import stat

from diskimage_builder.block_device.level2.fstypes import merge_extended
from diskimage_builder.block_device.offline import content as content_mod
from diskimage_builder.block_device.offline import ext_times
from diskimage_builder.block_device.offline import protofile

LOG = logging.getLogger(__name__)
MTOOLS_ENV = {'MTOOLS_SKIP_CHECK': '1'}


def make(node, octx, region, fs_uuid, folder, scratch):
    """Make *node*'s filesystem in *region* of the image from *folder*
    (None: empty)."""
    argv = node.argv(octx.image, octx.repro, zeroed=True, fs_uuid=fs_uuid)
    fstype = node.fstype
    sector = octx.plan_of(node.deps[0]).sector_size
    env = dict(octx.repro.env() or {}, **MTOOLS_ENV)
    if octx.repro.epoch is not None:
        env['SOURCE_DATE_EPOCH'] = str(octx.repro.epoch)
    if fstype.startswith('ext'):
        _ext(octx, argv, region, folder, sector, env)
        return
    path = os.path.join(scratch, node.name + '.fs')
    with open(path, 'wb') as image:
        image.truncate(region.size)
    argv = argv[:-1]
    if fstype == 'vfat':
        _vfat(octx, argv, path, region.offset // sector, folder, sector,
              env)
    else:
        if fstype == 'btrfs' and folder:
            argv += ['--rootdir', folder]
        if fstype == 'xfs' and folder:
            LOG.warning('%s: the files of an xfs made from a protofile get '
                        'the time of the build (xfsprogs 6.1 carries no '
                        'times)', node.name)
            argv += ['-p', protofile.write(folder, os.path.join(
                scratch, node.name + '.proto'))]
        octx.run(argv + [path], env=env)
    copy_sparse(path, octx.image, region.offset)
    os.unlink(path)


def _ext(octx, argv, region, folder, sector, env):
    extra = ['-E', 'offset=%d' % region.offset]
    if folder:
        info = os.lstat(folder)
        # mke2fs 1.47.0 gives the root folder its own owner, mode and
        # times; the owner it can take from -E, the rest debugfs sets.
        extra += ['-d', folder, '-E',
                  'root_owner=%d:%d' % (info.st_uid, info.st_gid)]
    if sector > 1024 and not any(a.startswith('-b') for a in argv):
        # On a disk of 4096-byte sectors, as the kernel path's mke2fs
        # would choose from the device.
        extra += ['-b', str(sector)]
    octx.run(merge_extended(argv[:-1] + extra) +
             [octx.image, '%dk' % (region.size // 1024)], env=env)
    if folder:
        script = os.path.join(os.path.dirname(octx.image),
                              'debugfs-%d' % region.offset)
        with open(script, 'w') as out:
            out.write(ext_times.script(folder, octx.repro.epoch))
        octx.run(['debugfs', '-w', '-f', script,
                  '%s?offset=%d' % (octx.image, region.offset)], env=env)
        os.unlink(script)


def _vfat(octx, argv, path, start, folder, sector, env):
    """mkfs.vfat on a file of the partition's size, then mtools: in place
    at an offset of the image, mkfs.fat 4.2 chooses the FAT type and the
    cluster size from the whole image's size (a 40 MiB ESP in a 1 GiB
    image got FAT32 with too few clusters, and mkfs.vfat failed; a 300 MiB
    one got FAT32 where its partition gets FAT16)."""
    octx.run(argv + fat_device_opts(argv, start, sector) + [path], env=env)
    # mtools turns names into FAT's UTF-16 from the locale's charset: in
    # the runner's C locale a name of non-ASCII letters became one of
    # Latin-1 letters (the kernel path's vfat takes UTF-8).
    env = dict(env, LC_ALL='C.UTF-8')
    if folder:
        for command in fat_copy_commands(folder, path):
            octx.run(command, env=env)


def fat_device_opts(argv, start=0, sector=512):
    """What mkfs.fat reads from a loop partition and not from a file, as
    options (unless *argv* gives them): the logical sector size, the
    partition's *start* sector (hidden sectors) and the geometry it
    assumes when the device has none, 64 heads of 63 sectors (a file
    gets one from a table of sizes, and a total rounded differently)."""
    given = {word[:2] for word in argv if word.startswith('-')}
    extra = []
    if sector != 512 and '-S' not in given:
        extra += ['-S', str(sector)]
    if '-h' not in given:
        extra += ['-h', str(start)]
    if '-g' not in given:
        extra += ['-g', '64/63']
    return extra


def fat_copy_commands(folder, target):
    """The mtools commands that copy *folder* into the FAT filesystem at
    *target* (the file it is in): one ``mmd`` per folder and one ``mcopy``
    per folder's files, in sorted order."""
    commands = []
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(top, folder)
        inside = '::/' if relative == '.' else '::/%s/' % relative
        if relative != '.':
            commands.append(['mmd', '-i', target, inside.rstrip('/')])
        for name in sorted(files):
            mode = os.lstat(os.path.join(top, name)).st_mode
            if not stat.S_ISREG(mode):
                raise content_mod.UsageError(
                    'a FAT filesystem holds regular files and folders '
                    'only: %s' % os.path.join(top, name))
        if files:
            commands.append(['mcopy', '-i', target, '-p', '-m', '-Q'] + [
                os.path.join(top, name) for name in sorted(files)] +
                [inside])
    return commands


def copy_sparse(source, image, offset):
    """Copy the file *source* into *image* at *offset*, its holes left
    unwritten (the image is sparse and reads them as zeros)."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    dst = os.open(image, os.O_WRONLY | os.O_CLOEXEC)
    try:
        end = os.fstat(src).st_size
        position = 0
        while position < end:
            try:
                data = os.lseek(src, position, os.SEEK_DATA)
            except OSError:         # ENXIO: only a hole is left
                break
            hole = os.lseek(src, data, os.SEEK_HOLE)
            _copy_range(src, dst, data, hole, offset)
            position = hole
    finally:
        os.close(src)
        os.close(dst)


def _copy_range(src, dst, start, end, offset):
    while start < end:
        chunk = os.pread(src, min(end - start, 8 << 20), start)
        if not chunk:
            break
        os.pwrite(dst, chunk, offset + start)
        start += len(chunk)
