"""LVM images built through the real command line, then opened again from
the image file alone as a booting system would: activate the VG seeing
only the image, mount the LVs read-only, read back what the build wrote.

Every test leaves nothing behind (no mount, dm device or loop device),
whatever fails: each acquisition registers its own undo first.
"""
import functools
import json
import os

import pytest

from diskimage_builder.block_device.level1 import lvmspec
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.compat import compat_text
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import sh

EFI_LVM = 'block-device-efi-lvm--default.yaml'
# The compat config asks for a 40G root partition after a 550MiB ESP;
# a sparse 38GiB image (40.8e9 bytes) holds it.
EFI_LVM_SIZE = '38GiB'

THIN = """
- local_loop: {name: image0, size: 1GiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: lvmpart, size: 100%}
- lvm:
    name: lvm
    base: [lvmpart]
    pvs: [{name: pv-1, base: lvmpart, options: [--force]}]
    vgs: [{name: vg-thin, base: [pv-1]}]
    lvs:
      - {name: pool, base: vg-thin, type: thin-pool, extents: 80%VG}
      - name: thin-root
        base: vg-thin
        type: thin
        thin-pool: pool
        size: 2G
        mkfs:
          type: ext4
          label: thin-root
          mount: {mount_point: /, fstab: {}}
      - name: thin-srv
        base: vg-thin
        type: thin
        thin-pool: pool
        size: 512M
        mkfs:
          type: xfs
          label: thin-srv
          mount: {mount_point: /srv, fstab: {}}
"""

FAILING = """
- local_loop: {name: image0, size: 256MiB}
- lvm:
    pvs: [{name: pv, base: image0}]
    vgs: [{name: vgfail, base: pv}]
    lvs:
      - {name: lv-ok, base: vgfail, size: 64M, mkfs: {type: ext4}}
      - name: lv-bad
        base: vgfail
        size: 64M
        mkfs: {type: ext4, opts: --no-such-option}
"""

KILLED = """
- local_loop: {name: image0, size: 256MiB}
- lvm:
    pvs: [{name: pv, base: image0}]
    vgs: [{name: vgkill, base: pv}]
    lvs:
      - {name: pool, base: vgkill, type: thin-pool, extents: 50%VG}
      - {name: thin-1, base: vgkill, type: thin, thin-pool: pool, size: 128M}
"""


@pytest.fixture
def undo():
    """Register undo steps; all run in reverse, even if one fails."""
    steps = []
    yield lambda *call: steps.append(call)
    errors = []
    for func, *args in reversed(steps):
        try:
            func(*args)
        except Exception as err:     # report them all, after all ran
            errors.append('%r%r: %s' % (func, tuple(args), err))
    assert not errors, errors


def vg_devices(vg):
    return [n for n in held.dm_names()
            if lvmspec.split_mapper_name(n)[0] == vg]


def release_image(image, vg, mount_base):
    """Safety net: whatever a failed test left of this image, released."""
    for target in reversed(held.mounts_below(mount_base)):
        sh('umount', target, check=False)
    for loop in held.loops_of(image):
        name = os.path.basename(loop)
        parts = [loop] + ['/dev/' + p for p in os.listdir('/sys/block/'
                                                          + name)
                          if p.startswith(name + 'p')]
        sh('vgchange', '--devices', ','.join(parts), '--activate', 'n', vg,
           check=False)
        sh('losetup', '--detach', loop, check=False)


def start_build(tmp_path, undo, text, vg, **params):
    build = Build(text, root=tmp_path / 'work', **params).prepare()
    undo(release_image, build.image('image0'), vg, build.mount_base)
    undo(functools.partial(build.phase, 'cleanup', check=False))
    return build


def write_files(build, files):
    for path, text in files.items():
        target = os.path.join(build.mount_base, path.lstrip('/'))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, 'w') as dst:
            dst.write(text)


def assert_released(build, vg):
    assert vg_devices(vg) == [], held.dm_names()
    assert vg.replace('-', '--') + '-' not in sh('dmsetup', 'ls').stdout
    assert held.loops_of(build.image('image0')) == []
    assert held.mounts_below(build.mount_base) == []
    assert not os.path.exists('/dev/' + vg)


def open_fresh(image, vg, partition, undo, tmp_path, mounts):
    """Activate *vg* from *image* alone and mount *mounts* read-only:
    {mount point: LV}, parents first.  Returns (mount root, disk, PV)."""
    disk = held.attach(image)
    undo(sh, 'losetup', '--detach', disk)
    pv = held.partition_node(disk, partition) if partition else disk
    undo(sh, 'vgchange', '--devices', pv, '--activate', 'n', vg)
    sh('vgchange', '--devices', pv, '--activate', 'y', vg)
    root = str(tmp_path / 'fresh')
    for mount_point, lv in mounts.items():
        target = os.path.join(root, mount_point.lstrip('/'))
        os.makedirs(target, exist_ok=True)
        sh('mount', '-o', 'ro', '/dev/%s/%s' % (vg, lv), target)
        undo(sh, 'umount', target)
    return root, disk, pv


def read_back(root, files):
    for path, text in files.items():
        with open(os.path.join(root, path.lstrip('/'))) as src:
            assert src.read() == text, path


def lvm_report(pv, kind, fields):
    data = json.loads(out(
        kind, '--devices', pv, '--reportformat', 'json', '--units', 'b',
        '--nosuffix', '-o', fields))
    return data['report'][0][kind[:-1]]


def test_efi_lvm_compat_config(tmp_path, undo):
    build = start_build(tmp_path, undo, compat_text(EFI_LVM), 'vg',
                        **{'image-size': EFI_LVM_SIZE})
    build.create_as_planned()
    build.phase('writefstab')

    # As diskimage-builder's layer answers: /dev/mapper/<vg>-<lv>.
    for lv in ('lv_root', 'lv_var', 'lv_home'):
        assert build.results(lv)['device'] == '/dev/mapper/vg-' + lv
    fstab = build.built('etc', 'fstab')
    assert 'LABEL=img-rootfs / xfs rw,relatime 0 1' in fstab
    assert 'LABEL=fs_home /home xfs rw,nodev,relatime 0 2' in fstab
    files = {'/etc/hello': 'root lv\n', '/var/lib/data': 'var lv\n',
             '/home/user/notes': 'home lv\n', '/boot/efi/EFI/x': 'esp\n'}
    write_files(build, files)
    build.phases('umount', 'cleanup')
    assert_released(build, 'vg')

    argvs = build.commands()
    tools = [argv[0] for argv in argvs]
    print('efi-lvm: %d commands, %d LVM, %d udevadm: %s' % (
        len(argvs), sum(t in ('pvcreate', 'vgcreate', 'lvcreate', 'vgchange',
                              'lvchange') for t in tools),
        tools.count('udevadm'), ' '.join(tools)))
    assert 'udevadm' not in tools
    for argv in argvs:
        if argv[0] in ('pvcreate', 'vgcreate', 'lvcreate', 'vgchange',
                       'lvchange'):
            assert argv[1] == '--devices', argv

    root, disk, pv = open_fresh(build.image('image0'), 'vg', 3, undo,
                                tmp_path, {'/': 'lv_root', '/var': 'lv_var',
                                           '/home': 'lv_home'})
    esp = held.partition_node(disk, 1)
    sh('mount', '-o', 'ro', esp, os.path.join(root, 'boot', 'efi'))
    undo(sh, 'umount', os.path.join(root, 'boot', 'efi'))
    read_back(root, files)
    # The plan the unit tests check is what LVM did.
    vg = lvm_report(pv, 'vgs', 'vg_name,vg_extent_count,vg_free_count')
    assert vg == [{'vg_name': 'vg', 'vg_extent_count': '9536',
                   'vg_free_count': '1'}]
    lvs = lvm_report(pv, 'lvs', 'lv_name,seg_size_pe')
    assert sorted((lv['lv_name'], lv['seg_size_pe']) for lv in lvs) == [
        ('lv_home', '1907'), ('lv_root', '2193'), ('lv_var', '5435')]


def test_thin_pool_and_thin_lvs(tmp_path, undo):
    build = start_build(tmp_path, undo, THIN, 'vg-thin')
    build.phases('init', 'create', 'writefstab')
    root_dev = build.results('thin-root')['device']
    assert root_dev == '/dev/mapper/vg--thin-thin--root'
    assert os.path.realpath(root_dev) == \
        os.path.realpath('/dev/vg-thin/thin-root')
    assert 'device' not in build.results('pool')
    files = {'/etc/hostname': 'thin\n', '/srv/www/index': 'thin srv\n'}
    write_files(build, files)
    build.phases('umount', 'cleanup')
    assert_released(build, 'vg-thin')

    root, _, pv = open_fresh(build.image('image0'), 'vg-thin', 1, undo,
                             tmp_path, {'/': 'thin-root',
                                        '/srv': 'thin-srv'})
    read_back(root, files)
    lvs = {lv['lv_name']: lv for lv in lvm_report(
        pv, 'lvs', 'lv_name,segtype,pool_lv,lv_size')}
    assert lvs['pool']['segtype'] == 'thin-pool'
    assert lvs['thin-root']['pool_lv'] == 'pool'
    # 2G in diskimage-builder's size grammar (2*10^9 bytes), rounded down
    # to 4 MiB.
    assert lvs['thin-root']['lv_size'] == str(2 * 10 ** 9 // (4 << 20) *
                                              (4 << 20))
    assert lvs['thin-srv']['segtype'] == 'thin'


def test_failed_create_leaves_nothing(tmp_path, undo):
    build = start_build(tmp_path, undo, FAILING, 'vgfail')
    build.phase('init')
    result = build.phase('create', check=False)
    assert result.returncode == 1, result.stderr
    assert 'no-such-option' in result.stderr
    assert_released(build, 'vgfail')
    assert not os.path.exists(build.image('image0'))
    assert build.state()['journal'] == []
    build.phase('cleanup')


def test_killed_create_is_released(tmp_path, undo):
    """SIGKILL right after the thin LV is made, before create records it:
    teardown from the journal, then (state file lost) from the system."""
    build = start_build(tmp_path, undo, KILLED, 'vgkill')
    # losetup, pvcreate, vgcreate, lvcreate pool, lvcreate thin-1: killed.
    kill = {'DIB_BD_FAULT_INJECT': 'after:5'}
    for teardown in ('journal', 'system'):
        build.phase('init')
        result = build.phase('create', env=kill, check=False)
        assert result.returncode == -9, result.stderr
        assert 'vgkill-thin--1' in vg_devices('vgkill')
        if teardown == 'journal':
            build.phase('cleanup')
        else:
            os.unlink(os.path.join(build.state_folder, 'state.json'))
            build.phase('cleanup', '--from-system')
        assert_released(build, 'vgkill')
        assert os.path.exists(build.image('image0'))

# The efi-lvm config through dib-main-lifecycle.sh runs in test_vm_compat.
