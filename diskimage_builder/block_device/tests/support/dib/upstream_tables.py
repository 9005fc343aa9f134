"""Run by the ``upstream`` venv's Python (never imported by the tests):
diskimage-builder 3.43.0's own partitioning code writes its table for one
layout into an image file, and its sgdisk command (GPT) runs on that
file instead of a loop device.

    python upstream_tables.py '{"image": ..., "disk_size": ..., "config":
                                {...partitioning entry...}}'

Nothing of diskimage-builder is copied here: its Partitioning plugin is
built from the config as its own loader builds it, and its _create_mbr
or _create_gpt runs with exec_sudo (sudo) replaced by a plain run with
the image path for the device path.
"""
import json
import subprocess
import sys

from diskimage_builder.block_device.level1 import partitioning

DEVICE = '/dev/loop9999'


def exec_plain(cmd):
    subprocess.run([ARGS['image'] if arg == DEVICE else arg for arg in cmd],
                   check=True, stdout=subprocess.DEVNULL)


ARGS = json.loads(sys.argv[1])


def main():
    partitioning.exec_sudo = exec_plain
    config = dict(ARGS['config'], base='image0')
    for part in config['partitions']:
        part.setdefault('base', 'image0')
    state = {'blockdev': {}}
    plugin = partitioning.Partitioning(config, {}, state)
    plugin.image_path = ARGS['image']
    plugin.device_path = DEVICE
    plugin.disk_size = ARGS['disk_size']
    if plugin.label == 'mbr':
        plugin._create_mbr()
    else:
        plugin._create_gpt()


if __name__ == '__main__':
    main()
