"""What the real kernel still holds (loop devices, mounts, device-mapper
devices, md arrays), read independently of the tool's state; and images
attached afresh, as a booting system sees its disk.  Host and VM tiers."""
import os
import time

from diskimage_builder.block_device.host import HOST
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import run
from diskimage_builder.block_device.tests.support.harness import sh


def leftovers(root):
    """Loop devices (by backing file) and mounts that belong to *root*."""
    loops = [line for line in run(['losetup', '-ln', '-O',
                                   'NAME,BACK-FILE']).stdout.splitlines()
             if root in line]
    mounts = [line for line in run(['findmnt', '-rn', '-o',
                                    'TARGET']).stdout.splitlines()
              if line.startswith(root)]
    return loops + mounts


def loops_of(*images):
    """Loop devices still attached to any of *images* (by path)."""
    paths = {os.path.realpath(image) for image in images}
    return ['/dev/' + loop.name for loop in HOST.loops()
            if loop.backing in paths]


def mounts_below(prefix):
    return HOST.mounts_below(prefix)


def dm_names():
    """Names of every device-mapper device the kernel holds."""
    names = []
    for entry in sorted(os.listdir('/sys/block')):
        if entry.startswith('dm-'):
            with open('/sys/block/%s/dm/name' % entry) as src:
                names.append(src.read().strip())
    return names


def md_arrays():
    """{md device: [member kernel names]} of arrays the kernel holds."""
    arrays = {}
    for entry in sorted(os.listdir('/sys/block')):
        state = '/sys/block/%s/md/array_state' % entry
        if not os.path.exists(state):
            continue
        with open(state) as src:
            if src.read().strip() == 'clear':
                continue
        arrays[entry] = sorted(os.listdir('/sys/block/%s/slaves' % entry))
    return arrays


def attach(image, partscan=True):
    """A fresh loop device over *image*, as a booting system sees a disk."""
    args = ['losetup', '--find', '--show']
    if partscan:
        args.append('--partscan')
    return out(*args, image).strip()


def partition_node(disk, number, timeout=10.0):
    """The device node of partition *number* of *disk*, waited for."""
    node = '%sp%d' % (disk, number)
    deadline = time.monotonic() + timeout
    while not os.path.exists(node):
        if time.monotonic() > deadline:
            sh('partx', '--update', disk, check=False)
            if not os.path.exists(node):
                raise AssertionError('%s did not appear' % node)
        time.sleep(0.1)
    return node
