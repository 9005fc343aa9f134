"""The offline build from config to image file: every node's offline
step in creation order, then each filesystem filled from its part of the
tree, the fstab among the root filesystem's files."""
import logging
import os

from diskimage_builder.block_device import node as node_mod
from diskimage_builder.block_device import offline
from diskimage_builder.block_device.offline import content
from diskimage_builder.block_device.offline import filesystems

LOG = logging.getLogger(__name__)
# A folder with more entries than this is slow to make with mke2fs -d:
# e2fsprogs 1.47 looks through the whole folder for each entry it adds
# (measured here: 20,000 files in one folder took 24 to 27 s, against
# under 2 s through a mount).
LARGE_FOLDER = 5000
# What each filesystem type cannot hold as a tree has it, and why.
CANNOT_HOLD = {
    'vfat': (('symlinks', 'device nodes, FIFOs or sockets', 'hard links'),
             'FAT cannot hold'),
    'xfs': (('hard links', 'extended attributes', 'names with white space'),
            'an xfs protofile (mkfs.xfs -p, xfsprogs 6.1) cannot carry'),
}


def mounted(nodes):
    """{mkfs node name: mount point} of the filesystems mounted at a
    path (swap's ``none`` is not)."""
    found = {}
    for node in nodes:
        if node_mod.MOUNT in node.provides and \
                node.facts['mount_point'].startswith('/'):
            found[node.deps[0]] = node.facts['mount_point']
    return found


def parts_of(nodes, tree):
    """{mkfs node name: (Part, Scan, fstype)} for the mounted
    filesystems; refuses what a filesystem type cannot hold."""
    points = mounted(nodes)
    by_name = {node.name: node for node in nodes}
    split = content.split(tree, points.values())
    found = {}
    for name, point in points.items():
        part = split[point]
        scan = content.scan(part)
        fstype = by_name[name].fstype
        if fstype in CANNOT_HOLD:
            kinds, why = CANNOT_HOLD[fstype]
            content.refuse(scan, point, fstype, kinds, why)
        found[name] = (part, scan, fstype)
    return found


def slow_folders(parts):
    """Warnings for the ext parts with a folder mke2fs -d is slow on."""
    lines = []
    for part, scan, fstype in parts.values():
        folder, count = scan.largest_folder
        if fstype.startswith('ext') and count > LARGE_FOLDER:
            lines.append(
                '%s holds %d entries: mke2fs -d reads the whole folder for '
                'each entry it adds (about %.0f s for this one; the kernel '
                'path takes under 2 s)' % (folder, count,
                                           26.0 * (count / 20000.0) ** 2))
    return lines


def make_image(params, nodes, planned, tree, runner, repro, scratch,
               parts=None):
    """Make the image of *nodes* from *tree*; return its path."""
    offline.check(nodes)
    parts = parts if parts is not None else parts_of(nodes, tree)
    for line in slow_folders(parts):
        LOG.warning('%s', line)
    octx = offline.OfflineContext(runner, params, nodes, planned, repro)
    for node in nodes:
        node.offline(octx)
    extra = {'etc/fstab': fstab_text(nodes, octx).encode()}
    for node, region, fs_uuid in octx.fills:
        folder = None
        if node.name in parts:
            part = parts[node.name][0]
            folder = content.stage(
                part, os.path.join(scratch, 'stage', node.name),
                extra if part.mount_point == '/' else {}, runner,
                repro.epoch)
        LOG.info('making %s %s (%s) from %s', node.fstype, node.name,
                 node.facts['label'], folder or 'nothing')
        filesystems.make(node, octx, region, fs_uuid, folder, scratch)
    return octx.image


def fstab_text(nodes, octx):
    lines = [octx.values[node.name]['fstab'] for node in nodes
             if 'fstab' in octx.values.get(node.name, {})]
    return ''.join(line + '\n' for line in lines)
