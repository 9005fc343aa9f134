"""A deep stack (RAID1 + LUKS + LVM + xfs) killed at every command of
create: a fresh ``cleanup`` releases everything each time.

The runner's fault switch (DIB_BD_FAULT_INJECT) SIGKILLs create right
before or right after its Nth command; then cleanup runs in a new process
with only the state folder, and the kernel must hold nothing of the build:
no loop device, mount, device-mapper device or md array, no claim, no
state folder.
"""
import os
import shutil
import signal
import time

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.vmstacks import KEY_ENV
from diskimage_builder.block_device.tests.support.vmstacks import \
    deep_build


def kernel_holdings(mount_base):
    """What the kernel holds that a build could have left."""
    loops = {}
    for entry in sorted(os.listdir('/sys/block')):
        backing = '/sys/block/%s/loop/backing_file' % entry
        if os.path.exists(backing):
            with open(backing) as src:
                loops[entry] = src.read().strip()
    return {'loops': loops, 'dm': held.dm_names(),
            'md': held.md_arrays(),
            'mounts': held.mounts_below(mount_base)}


def claims():
    folder = os.environ['DIB_BD_CLAIMS_DIR']
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_kill_at_every_command_of_a_deep_stack(tmp_path, cleanup):
    build, _ = deep_build(tmp_path / 'b', '')
    cleanup(build.release)
    images = [build.image('image0'), build.image('image1')]
    before = kernel_holdings(build.mount_base)
    build.phase('init')
    # init's only output: put back before each kill point instead of
    # running init again (~10 s each under TCG).
    config_json = os.path.join(build.state_folder, 'config.json')
    kept = str(tmp_path / 'config.json')
    shutil.copy(config_json, kept)
    build.phase('create', env=KEY_ENV)
    count = len(build.commands())
    tools = sorted({argv[0] for argv in build.commands()})
    build.phase('delete')
    assert kernel_holdings(build.mount_base) == before
    # The stack is what the issue asks for: md, LUKS, LVM, xfs.
    for tool in ('mdadm', 'cryptsetup', 'pvcreate', 'lvcreate', 'mkfs.xfs'):
        assert tool in tools, tools

    points = [(when, number) for number in range(1, count + 1)
              for when in ('before', 'after')]
    recovered = 0
    start = time.monotonic()
    for when, number in points:
        where = '%s:%d' % (when, number)
        if os.path.exists(build.command_log):
            os.unlink(build.command_log)
        os.makedirs(build.state_folder, mode=0o700)
        shutil.copy(kept, config_json)
        killed = build.phase('create', check=False, env=dict(
            KEY_ENV, DIB_BD_FAULT_INJECT=where))
        assert killed.returncode == -signal.SIGKILL, (where, killed.stderr)
        ran = len(build.commands())
        assert ran == (number if when == 'after' else number - 1), where
        build.phase('cleanup')
        assert kernel_holdings(build.mount_base) == before, where
        assert not os.path.exists(build.state_folder), where
        assert claims() == [], where
        if recovered == 0:
            build.phase('cleanup')      # a second one has nothing to do
            assert kernel_holdings(build.mount_base) == before
        for image in images:
            if os.path.exists(image):
                os.unlink(image)
        recovered += 1
    print('deep stack (RAID1 + LUKS + LVM + xfs): %d commands, %d of %d '
          'injection points recovered in %.0fs'
          % (count, recovered, len(points), time.monotonic() - start))
    assert recovered == len(points)
