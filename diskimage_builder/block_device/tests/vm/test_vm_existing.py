"""Builds straight onto the VM's virtio disks with ``existing``, and each
refusal shown to leave the disk as it was.

The runner attaches the disks (``--disk disk1=2G --disk disk2=2G``); they
are shared by every test here, so each test starts from wiped disks and
wipes them again in its cleanup, after releasing whatever it set up.
A refusal is checked by exit status 2, the message, no state written, and
the same sha256 of the disk's first and last MiB before and after.
"""
import hashlib
import os
import stat
import subprocess
import time

import pytest

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import vmrunner as runner
from diskimage_builder.block_device.tests.support.compat import compat_text
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import sh

MIB = 1 << 20
TAG = 'dibex%d' % (os.getpid() % 100000)
COMPAT_GPT = 'block-device-gpt--default.yaml'
DM_ENV = {'DM_DISABLE_UDEV': '1'}


def vm_disk(serial, cleanup):
    if serial not in runner.vm_disks():
        pytest.fail('needs the VM disk %s: run the runner with --disk '
                    '%s=2G (DIB_VM_DISKS=%r)' % (
                        serial, serial, os.environ.get('DIB_VM_DISKS', '')))
    device = runner.disk_by_serial(serial)
    assert device, 'no disk with serial %s' % serial
    wipe_clean(device)
    cleanup(wipe_clean, device)
    return device


@pytest.fixture
def disk1(cleanup):
    return vm_disk('disk1', cleanup)


@pytest.fixture
def disk2(cleanup):
    return vm_disk('disk2', cleanup)


# -- disk helpers -----------------------------------------------------------

def settle():
    sh('udevadm', 'settle', '--timeout=30', check=False)


def partitions(device):
    name = os.path.basename(device)
    folder = '/sys/class/block/' + name
    return sorted(e for e in os.listdir(folder)
                  if os.path.exists(os.path.join(folder, e, 'partition')))


def size_of(device):
    with open('/sys/class/block/%s/size' % os.path.basename(device)) as src:
        return int(src.read()) * 512


def write_at(device, offset, data):
    fd = os.open(device, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def wipe_clean(device):
    """Leave *device* with no signature, no partition, zeros at both ends."""
    settle()
    for part in partitions(device):
        sh('wipefs', '--all', '--quiet', '/dev/' + part, check=False)
    sh('wipefs', '--all', '--quiet', device)
    write_at(device, 0, bytes(MIB))
    write_at(device, size_of(device) - MIB, bytes(MIB))
    settle()
    sh('blockdev', '--rereadpt', device, check=False)
    assert partitions(device) == []


def fingerprint(device):
    """sha256 of the first and the last MiB, as the disk holds them."""
    # Partitions have page caches of their own: drop the disk's so the
    # read shows what writes through any of them left.
    sh('blockdev', '--flushbufs', device)
    with open(device, 'rb') as src:
        head = src.read(MIB)
        src.seek(size_of(device) - MIB)
        tail = src.read(MIB)
    return hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()


def seed(device):
    """Random bytes at both ends: any write there would show."""
    write_at(device, 0, os.urandom(MIB))
    write_at(device, size_of(device) - MIB, os.urandom(MIB))


def old_table(device, fs_partition=None):
    """A GPT with three partitions, an ext4 on one of them."""
    sh('sfdisk', '--quiet', '--wipe', 'always', device,
       input='label: gpt\n,100MiB\n,100MiB\n,512MiB\n')
    settle()
    if fs_partition:
        part = '%s%d' % (device, fs_partition)
        sh('mkfs.ext4', '-q', '-F', '-L', 'old', wait_node(part))
        settle()


def wait_node(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, '%s did not appear' % path
        time.sleep(0.1)
    return path


# -- build helpers ----------------------------------------------------------

def new_build(tmp_path, cleanup, text, name='b'):
    build = Build(text, root=tmp_path / name).prepare()
    cleanup(build.release)
    return build


def write_files(build, files):
    for relative, text in files.items():
        path = os.path.join(build.mount_base, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as dst:
            dst.write(text)


def read_back(root, files):
    for relative, text in files.items():
        with open(os.path.join(root, relative)) as src:
            assert src.read() == text, relative


def mount_ro(device, target, cleanup):
    os.makedirs(target, exist_ok=True)
    sh('mount', '-o', 'ro', device, target)
    cleanup(sh, 'umount', target, check=False)


def refused(build, disks, *expected, phase=('create',), started=False):
    """Run *phase*; it must exit 2 saying *expected*, changing nothing.
    A refusal from preflight leaves no state at all; one from the claim
    (*started*) leaves a state with nothing held."""
    before = [fingerprint(d) for d in disks]
    if phase == ('create',) and not os.path.isdir(build.state_folder):
        build.phase('init')
    result = build.phase(*phase, check=False)
    assert result.returncode == 2, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr
    if started:
        assert build.state()['journal'] == []
    else:
        assert not os.path.exists(os.path.join(build.state_folder,
                                               'state.json'))
    assert [fingerprint(d) for d in disks] == before
    return result.stderr


def existing(selector='serial: disk1', wipe='zero-start-end', extra=''):
    return ('- existing: {name: image0, %s, wipe: %s%s}\n'
            % (selector, wipe, extra))


ROOT_ON = """
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: %s
        mkfs: {name: mkfs_root, type: ext4,
               mount: {mount_point: /, fstab: {}}}
"""


# -- builds -------------------------------------------------------------------

def test_gpt_compat_layout_on_a_disk(tmp_path, cleanup, disk1):
    text = compat_text(COMPAT_GPT)
    loop = '- local_loop:\n    name: image0\n'
    assert loop in text
    text = text.replace(loop, existing(wipe='superblocks'))
    old_table(disk1, fs_partition=3)
    assert partitions(disk1) == [os.path.basename(disk1) + n
                                 for n in '123']
    build = new_build(tmp_path, cleanup, text)
    build.create_as_planned()
    build.phase('writefstab')

    assert build.results('image0') == {
        'device': disk1, 'size': size_of(disk1), 'sector_size': 512,
        'disk': os.path.basename(disk1)}
    assert build.getval('image-block-device') == disk1
    assert build.getval('image-path') == ''
    # The old third partition is gone; the new table's two are there.
    assert partitions(disk1) == [os.path.basename(disk1) + n for n in '12']
    assert build.results('root')['device'] == disk1 + '2'
    files = {'etc/hostname': 'on-a-disk\n', 'srv/data': 'x' * 70000}
    write_files(build, files)
    build.phases('umount', 'delete')
    # delete releases the disk; it never deletes it.
    assert stat.S_ISBLK(os.stat(disk1).st_mode)
    assert 'LABEL=cloudimg-rootfs / ext4 defaults 0 1' in build.built(
        'etc', 'fstab')

    sh('blockdev', '--rereadpt', disk1)
    root = wait_node(disk1 + '2')
    probed = out('blkid', '-p', '-o', 'export', root)
    assert 'TYPE=ext4' in probed and 'LABEL=cloudimg-rootfs' in probed
    assert 'PART_ENTRY_TYPE=21686148-6449-6e6f-744e-656564454649' in out(
        'blkid', '-p', '-o', 'export', wait_node(disk1 + '1'))
    target = str(tmp_path / 'fresh')
    mount_ro(root, target, cleanup)
    read_back(target, files)


LVM = """
- existing: {name: disk, by-id: virtio-disk1, wipe: zero-start-end}
- lvm:
    pvs: [{name: pv, base: disk}]
    vgs: [{name: %(vg)s, base: [pv]}]
    lvs:
      - name: lv_root
        base: %(vg)s
        size: 512M
        mkfs: {name: mkfs_root, type: ext4,
               mount: {mount_point: /, fstab: {}}}
      - name: lv_srv
        base: %(vg)s
        extents: 50%%FREE
        mkfs: {type: ext4, label: srv,
               mount: {mount_point: /srv, fstab: {}}}
"""


def test_lvm_on_a_whole_disk(tmp_path, cleanup, disk1):
    vg = TAG + 'vg'
    sh('mkfs.ext4', '-q', '-F', '-L', 'old', disk1)   # something to wipe
    build = new_build(tmp_path, cleanup, LVM % {'vg': vg})
    cleanup(sh, 'vgchange', '--devices', disk1, '--activate', 'n', vg,
            check=False)
    build.phases('init', 'create', 'writefstab')
    assert build.results('lv_root')['device'] == \
        '/dev/mapper/%s-lv_root' % vg.replace('-', '--')
    files = {'etc/hostname': 'lvm-disk\n', 'srv/www/index': 'srv lv\n'}
    write_files(build, files)
    build.phases('umount', 'cleanup')
    assert not [n for n in held.dm_names() if n.startswith(vg)]

    # Fresh, from the disk alone: its PV is the whole disk.
    pvs = out('pvs', '--devices', disk1, '--noheadings', '-o',
              'pv_name,vg_name').split()
    assert pvs == [disk1, vg]
    sh('vgchange', '--devices', disk1, '--activate', 'y', vg)
    root = str(tmp_path / 'fresh')
    mount_ro('/dev/%s/lv_root' % vg, root, cleanup)
    mount_ro('/dev/%s/lv_srv' % vg, os.path.join(root, 'srv'), cleanup)
    read_back(root, files)


RAID1 = """
- existing: {name: d1, serial: disk1, wipe: superblocks}
- existing: {name: d2, device: %(disk2)s, wipe: superblocks}
- mdraid:
    name: %(md)s
    base: [d1, d2]
    level: 1
    mkfs: {name: mkfs_root, type: ext4,
           mount: {mount_point: /, fstab: {}}}
"""


def test_raid1_across_two_disks(tmp_path, cleanup, disk1, disk2):
    md = TAG + 'md'
    build = new_build(tmp_path, cleanup, RAID1 % {'md': md, 'disk2': disk2})
    build.create_as_planned()
    build.phase('writefstab')
    assert sorted(build.results(md)['members']) == [disk1, disk2]
    # Every node with a block device, as diskimage-builder answers it.
    assert build.getval('image-block-devices') == \
        ' [d1]=%s  [d2]=%s  [%s]=%s ' % (disk1, disk2, md,
                                         build.results(md)['device'])
    files = {'etc/hostname': 'raid1\n', 'var/data': 'y' * 50000}
    write_files(build, files)
    build.phases('umount', 'cleanup')
    assert held.md_arrays() == {}

    conf = tmp_path / 'mdadm.conf'
    conf.write_text('DEVICE %s %s\n%s' % (disk1, disk2, build.built(
        'etc', 'mdadm', 'mdadm.conf')))
    sh('mdadm', '--assemble', '--scan', '--config', str(conf))
    cleanup(sh, 'mdadm', '--stop', '/dev/md/' + md, check=False)
    members = list(held.md_arrays().values())
    assert members == [sorted(os.path.basename(d) for d in (disk1, disk2))]
    target = str(tmp_path / 'fresh')
    mount_ro('/dev/md/' + md, target, cleanup)
    read_back(target, files)


# -- refusals -----------------------------------------------------------------

def test_refuses_a_missing_device(tmp_path, cleanup, disk1, disk2):
    seed(disk1)
    build = new_build(tmp_path, cleanup, existing(
        'device: /dev/%s-none' % TAG) + ROOT_ON % '100%')
    refused(build, [disk1, disk2], '[0].existing: /dev/%s-none does not '
            'exist; nothing was written' % TAG)
    build = new_build(tmp_path, cleanup, existing('serial: disk9'),
                      name='c')
    refused(build, [disk1, disk2], 'no disk has serial disk9 (disks seen:',
            'disk1')


def test_refuses_a_regular_file(tmp_path, cleanup, disk1):
    seed(disk1)
    image = tmp_path / 'not-a-disk.raw'
    image.write_bytes(os.urandom(2 * MIB))
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    build = new_build(tmp_path, cleanup, existing('device: %s' % image)
                      + ROOT_ON % '100%')
    refused(build, [disk1], '%s is not a block device (it is a regular '
            'file)' % image)
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_refuses_a_mounted_partition(tmp_path, cleanup, disk1):
    old_table(disk1, fs_partition=3)
    target = str(tmp_path / 'busy')
    os.makedirs(target)
    sh('mount', disk1 + '3', target)
    cleanup(sh, 'umount', target, check=False)
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '100%')
    name = os.path.basename(disk1)
    refused(build, [disk1], '%s3 is mounted on %s (ext4)' % (name, target))


def test_refuses_a_disk_with_holders(tmp_path, cleanup, disk1):
    seed(disk1)
    mapper = TAG + 'lin'
    sh('dmsetup', 'create', '--noudevsync', mapper, '--table',
       '0 2048 linear %s 0' % disk1, env=DM_ENV)
    cleanup(sh, 'dmsetup', 'remove', '--noudevsync', mapper, env=DM_ENV,
            check=False)
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '100%')
    refused(build, [disk1], 'is held by dm-', '(device-mapper %s)' % mapper)


def test_refuses_a_disk_open_in_another_process(tmp_path, cleanup, disk1):
    seed(disk1)
    with open(disk1, 'rb') as src:
        proc = subprocess.Popen(['sleep', '600'], stdin=src)
    cleanup(proc.wait)
    cleanup(proc.kill)
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '100%')
    refused(build, [disk1], '%s is open in process %d (sleep)' % (
        os.path.basename(disk1), proc.pid))


def test_refuses_swap_and_a_loop_device_over_it(tmp_path, cleanup, disk1):
    sh('mkswap', '-f', disk1)
    sh('swapon', disk1)
    cleanup(sh, 'swapoff', disk1, check=False)
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '100%')
    refused(build, [disk1], '%s is in use as swap'
            % os.path.basename(disk1))
    sh('swapoff', disk1)
    loop = out('losetup', '--find', '--show', disk1).strip()
    cleanup(sh, 'losetup', '--detach', loop, check=False)
    refused(build, [disk1], 'backs the loop device %s'
            % os.path.basename(loop))


def test_refuses_signatures_when_wipe_is_none(tmp_path, cleanup, disk1):
    old_table(disk1, fs_partition=1)
    build = new_build(tmp_path, cleanup, existing(wipe='none')
                      + ROOT_ON % '100%')
    name = disk1
    refused(build, [disk1], '%s (serial disk1) is not empty: it carries '
            'gpt at 0x200 on %s' % (name, name), 'ext4 at 0x438 on %s1'
            % name, 'set "wipe: superblocks" to clear these signatures')


def test_refuses_a_disk_of_the_wrong_size(tmp_path, cleanup, disk1):
    seed(disk1)
    size = size_of(disk1)
    build = new_build(tmp_path, cleanup, existing(
        extra=', expected-size: 1GiB') + ROOT_ON % '100%')
    refused(build, [disk1], '[0].existing.expected-size: disk %s is %d '
            'bytes' % (os.path.basename(disk1), size),
            phase=('init',))
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '3GiB',
                      name='c')
    refused(build, [disk1], '[1].partitioning.partitions[0]: partition root '
            'needs 3 GiB but only', phase=('init',))


def test_check_writes_nothing(tmp_path, cleanup, disk1):
    old_table(disk1, fs_partition=3)
    build = new_build(tmp_path, cleanup, existing() + ROOT_ON % '100%')
    build.phase('init')
    before = fingerprint(disk1)
    listing = sorted(os.listdir(build.state_folder))
    result = build.phase('create', '--check', check=False)
    assert result.returncode == 0, result.stderr
    assert 'checked: [0].existing (image0): %s (serial disk1): 2 GiB, ' \
        '512-byte sectors, 3 partition(s)' % disk1 in result.stdout
    assert 'gpt at 0x200 on %s' % disk1 in result.stdout
    assert 'ext4 at 0x438 on %s3' % disk1 in result.stdout
    assert 'wipe zero-start-end clears them' in result.stdout
    assert fingerprint(disk1) == before
    assert sorted(os.listdir(build.state_folder)) == listing
    assert partitions(disk1) == [os.path.basename(disk1) + n
                                 for n in '123']
    # And with the disk busy, --check says so with status 2.
    target = str(tmp_path / 'busy')
    os.makedirs(target)
    sh('mount', disk1 + '3', target)
    cleanup(sh, 'umount', target, check=False)
    refused(build, [disk1], 'is mounted on %s' % target,
            phase=('create', '--check'))


def test_two_builds_cannot_share_a_disk(tmp_path, cleanup, disk1):
    first = new_build(tmp_path, cleanup, existing(wipe='superblocks') + """
- partitioning:
    base: image0
    label: gpt
    partitions: [{name: p1, size: 64MiB}]
""", name='first')
    first.phases('init', 'create')
    settle()
    second = new_build(tmp_path, cleanup, existing('device: %s' % disk1)
                       + ROOT_ON % '100%', name='second')
    refused(second, [disk1], 'disk %s is in use by the build whose state '
            'is %s' % (disk1, os.path.realpath(first.state_folder)),
            started=True)
    first.phase('cleanup')
