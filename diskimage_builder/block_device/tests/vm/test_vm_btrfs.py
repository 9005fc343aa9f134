"""btrfs subvolumes through the real command line: made as planned,
nested ones included, each mounted at its mount point (read back with
``btrfs subvolume list`` and ``findmnt``), unmounted in reverse, and
found again in the image afterwards."""
import json
import os

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import sh

# The nested mount point comes first: mounts go by mount point.
LAYOUT = """
- local_loop: {name: image0, size: 384MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: boot
        size: 64MiB
        mkfs: {type: ext4, label: boot, mount: {mount_point: /boot,
                                                fstab: {}}}
      - name: root
        size: 100%
        mkfs:
          type: btrfs
          label: broot
          btrfs:
            subvolumes:
              - {path: '@home/alice', mount_point: /home/alice,
                 quota: {referenced: 32MiB}}
              - {path: '@', mount_point: /, default: true,
                 options: 'compress=zstd:3,noatime'}
              - {path: '@home', mount_point: /home, options: [noatime]}
              - {path: '@/var/lib/machines'}
"""
FILES = {'etc/hostname': 'btrfs-image\n', 'boot/grub.cfg': 'menu\n',
         'home/alice/notes.txt': 'a' * 20000, 'home/readme': 'home\n'}


def findmnt(target):
    found = json.loads(out('findmnt', '--json', '--mountpoint', target,
                           '-o', 'TARGET,SOURCE,FSTYPE,OPTIONS'))
    return found['filesystems'][-1]


def test_nested_subvolumes_mounted_and_read_back(tmp_path, cleanup):
    build = Build(LAYOUT, root=tmp_path / 'b').prepare()
    cleanup(build.release)
    plan = build.create_as_planned()
    mnt = build.mount_base
    assert [line.split()[1] for line in plan['fstab']] == [
        '/', '/boot', '/home', '/home/alice']

    # -a: every path from the top level (without it, those below the
    # mounted subvolume are shown relative to it)
    listed = out('btrfs', 'subvolume', 'list', '-a', mnt)
    paths = sorted(line.split(' path ')[1].replace('<FS_TREE>/', '')
                   for line in listed.splitlines())
    assert paths == ['@', '@/var/lib/machines', '@home', '@home/alice']
    assert out('btrfs', 'subvolume', 'get-default', mnt).split()[-1] == '@'
    for target, subvol in (('', '/@'), ('/home', '/@home'),
                           ('/home/alice', '/@home/alice')):
        mount = findmnt(mnt + target)
        assert mount['fstype'] == 'btrfs'
        assert mount['source'].endswith('[%s]' % subvol), mount
        assert 'subvol=%s' % subvol in mount['options'].split(','), mount
    assert 'compress=zstd:3' in findmnt(mnt)['options']
    assert findmnt(mnt + '/boot')['fstype'] == 'ext4'
    qgroups = out('btrfs', 'qgroup', 'show', '-r', '--raw', mnt)
    assert str(32 << 20) in qgroups, qgroups
    assert os.path.isdir(mnt + '/var/lib/machines')

    for relative, text in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(mnt, relative)),
                    exist_ok=True)
        with open(os.path.join(mnt, relative), 'w') as dst:
            dst.write(text)
    created = len(build.commands())
    build.phases('writefstab', 'umount')
    umounted = [argv[-1] for argv in build.commands()[created:]
                if argv[0] == 'umount']
    assert umounted == [mnt + '/home/alice', mnt + '/home', mnt + '/boot',
                        mnt]
    assert held.mounts_below(mnt) == []
    fstab = build.built('etc', 'fstab').splitlines()
    assert fstab[0] == ('LABEL=broot / btrfs subvol=@,compress=zstd:3,'
                        'noatime 0 0')
    assert fstab[2] == 'LABEL=broot /home btrfs subvol=@home,noatime 0 0'
    build.phase('cleanup')

    # The image alone: the default subvolume, then one by its path.
    disk = held.attach(build.image())
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    sh('udevadm', 'settle')     # udev re-reads the table after losetup
    part = held.partition_node(disk, 2)
    for subvol, relative in ((None, 'etc/hostname'),
                             ('@home/alice', 'notes.txt'),
                             ('@home', 'readme')):
        target = str(tmp_path / ('ro-%s' % (subvol or 'default')).replace(
            '/', '_'))
        os.makedirs(target)
        options = 'ro' + (',subvol=' + subvol if subvol else '')
        sh('mount', '-t', 'btrfs', '-o', options, part, target)
        cleanup(sh, 'umount', target, check=False)
        with open(os.path.join(target, relative)) as src:
            wanted = FILES[{None: '', '@home/alice': 'home/alice/',
                            '@home': 'home/'}[subvol] + relative]
            assert src.read() == wanted
