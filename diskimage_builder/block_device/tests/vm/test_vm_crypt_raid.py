"""LUKS and md RAID built through the real command line, then opened
fresh from the images alone, as the booted system would.

Each test runs init, create, writefstab, umount and cleanup in fresh
processes, writes files into the mounts, checks that nothing is left
held, re-opens the image with the stock tools (cryptsetup open, mdadm
--assemble, vgchange) using only what the image and the written
crypttab / mdadm.conf say, reads the files back read-only, and tears
down in cleanup callbacks that run even when an assertion fails.
"""
import json
import os
import stat

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import sh
from diskimage_builder.block_device.tests.support.vmstacks import KEY
from diskimage_builder.block_device.tests.support.vmstacks import KEY_ENV
from diskimage_builder.block_device.tests.support.vmstacks import PBKDF
from diskimage_builder.block_device.tests.support.vmstacks import TAG
from diskimage_builder.block_device.tests.support.vmstacks import \
    deep_build


def new_build(tmp_path, text):
    return Build(text, root=tmp_path / 'b').prepare()


def assert_nothing_held(build, images, names=()):
    assert held.loops_of(*images) == []
    taken = [n for n in held.dm_names() if any(x in n for x in names)]
    assert taken == []
    assert held.md_arrays() == {}
    assert held.mounts_below(build.mount_base) == []


def write_files(build, files):
    for relative, text in files.items():
        path = os.path.join(build.mount_base, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as dst:
            dst.write(text)


def mount_ro(device, target, fstype, cleanup):
    os.makedirs(target, exist_ok=True)
    sh('mount', '-t', fstype, '-o', 'ro', device, target)
    cleanup(sh, 'umount', target, check=False)


def read_back(target, files):
    for relative, text in files.items():
        with open(os.path.join(target, relative)) as src:
            assert src.read() == text, relative


def luks_open(device, name, cleanup):
    sh('cryptsetup', 'open', '--key-file', '-', device, name, input=KEY)
    cleanup(sh, 'cryptsetup', 'close', name, check=False)
    return '/dev/mapper/' + name


def md_assemble(name, members, conf_line, tmp_path, cleanup):
    """Assemble from the written ARRAY line, seeing only *members*."""
    conf = tmp_path / ('mdadm-%s.conf' % name)
    conf.write_text('DEVICE %s\n%s' % (' '.join(members), conf_line))
    sh('mdadm', '--assemble', '--scan', '--config', str(conf))
    link = '/dev/md/' + name
    cleanup(sh, 'mdadm', '--stop', link, check=False)
    assert stat.S_ISBLK(os.stat(link).st_mode)
    return link


# -- (1) root on LUKS on a partition -----------------------------------------

LUKS_ON_PARTITION = """
- local_loop: {name: image0, size: 96MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: 100%%
        crypt:
          name: %(mapper)s
          passphrase-env: DIB_VM_LUKS_KEY
          pbkdf: %(pbkdf)s
          options: luks,discard
          mkfs:
            name: mkfs_root
            type: ext4
            mount: {mount_point: /, fstab: {spec: uuid}}
"""


def test_root_on_luks_on_a_partition(tmp_path, cleanup):
    mapper = TAG + 'root'
    build = new_build(tmp_path, LUKS_ON_PARTITION % {'mapper': mapper,
                                                     'pbkdf': PBKDF})
    cleanup(build.release)
    files = {'etc/hostname': 'luks-image\n', 'srv/data.txt': 'x' * 10000}
    build.phases('init', 'create', env=KEY_ENV)
    luks = build.results(mapper)
    assert luks['device'] == '/dev/mapper/' + mapper
    write_files(build, files)
    build.phases('writefstab', 'umount', 'cleanup')
    image = build.image('image0')
    assert_nothing_held(build, [image], [mapper])

    crypttab = build.built('etc', 'crypttab')
    assert crypttab == '%s UUID=%s none luks,discard\n' % (mapper,
                                                           luks['uuid'])
    fstab = build.built('etc', 'fstab').split()

    disk = held.attach(image)
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    part = held.partition_node(disk, 1)
    probed = out('blkid', '-p', '-o', 'export', part)
    assert 'TYPE=crypto_LUKS' in probed
    assert 'UUID=%s' % luks['uuid'] in probed
    mapped = luks_open(part, TAG + 'fresh', cleanup)
    fs_uuid = out('blkid', '-p', '-o', 'value', '-s', 'UUID', mapped).strip()
    assert fstab[:3] == ['UUID=' + fs_uuid, '/', 'ext4']
    target = str(tmp_path / 'ro')
    mount_ro(mapped, target, 'ext4', cleanup)
    read_back(target, files)


# -- (2) RAID1 over two images ------------------------------------------------

RAID1_IMAGES = """
- local_loop: {name: image0, size: 64MiB}
- local_loop: {name: image1, size: 64MiB}
- mdraid:
    name: %(md)s
    base: [image0, image1]
    level: 1
    mkfs:
      name: mkfs_root
      type: ext4
      mount: {mount_point: /, fstab: {}}
"""


def test_raid1_over_two_images(tmp_path, cleanup):
    md = TAG + 'r1'
    build = new_build(tmp_path, RAID1_IMAGES % {'md': md})
    cleanup(build.release)
    files = {'etc/hostname': 'raid-image\n', 'data.bin': 'y' * 300000}
    build.phases('init', 'create')
    results = build.results(md)
    assert results['md_name'] == 'any:' + md
    assert os.path.realpath('/dev/md/' + md) == results['device']
    with open('/sys/block/%s/md/level' % os.path.basename(
            results['device'])) as src:
        assert src.read().strip() == 'raid1'
    write_files(build, files)
    build.phases('writefstab', 'umount', 'cleanup')
    images = [build.image('image0'), build.image('image1')]
    assert_nothing_held(build, images)
    assert not os.path.lexists('/dev/md/' + md)

    line = build.built('etc', 'mdadm', 'mdadm.conf')
    assert line == 'ARRAY /dev/md/%s metadata=1.2 UUID=%s name=any:%s\n' % (
        md, results['uuid'], md)
    disks = [held.attach(image, partscan=False) for image in images]
    for disk in disks:
        cleanup(sh, 'losetup', '--detach', disk, check=False)
    link = md_assemble(md, disks, line, tmp_path, cleanup)
    detail = out('mdadm', '--detail', '--export', link)
    assert 'MD_UUID=%s\n' % results['uuid'] in detail
    assert 'MD_LEVEL=raid1\n' in detail
    target = str(tmp_path / 'ro')
    mount_ro(link, target, 'ext4', cleanup)
    read_back(target, files)


# -- (3) RAID1 over partitions + LUKS (+ LVM) ------------------------------
# (support/vmstacks: the fault injection tests kill the same stack)

def test_deep_stack_raid1_luks_lvm(tmp_path, cleanup):
    build, names = deep_build(tmp_path / 'b', '')
    cleanup(build.release)
    files = {'etc/motd': 'deep stack\n'}
    build.create_as_planned(env=KEY_ENV)
    md = build.results(names['md'])
    luks = build.results(names['mapper'])
    write_files(build, files)
    build.phases('writefstab', 'umount', 'cleanup')
    images = [build.image('image0'), build.image('image1')]
    assert_nothing_held(build, images, [names['mapper'], names['vg']])
    line = build.built('etc', 'mdadm', 'mdadm.conf')
    assert 'UUID=%s' % md['uuid'] in line
    assert build.built('etc', 'crypttab').startswith(
        '%s UUID=%s ' % (names['mapper'], luks['uuid']))

    disks = [held.attach(image) for image in images]
    for disk in disks:
        cleanup(sh, 'losetup', '--detach', disk, check=False)
    parts = [held.partition_node(disk, 1) for disk in disks]
    link = md_assemble(names['md'], parts, line, tmp_path, cleanup)
    mapped = luks_open(link, TAG + 'dfresh', cleanup)
    target = str(tmp_path / 'ro')
    devices = ['--devices', mapped]
    sh('vgchange', *devices, '--activate', 'y', names['vg'])
    cleanup(sh, 'vgchange', *devices, '--activate', 'n', names['vg'],
            check=False)
    lv = '/dev/mapper/%s-lv_root' % names['vg']
    mount_ro(lv, target, 'xfs', cleanup)
    read_back(target, files)


def test_deep_stack_failure_leaves_nothing(tmp_path, cleanup):
    bogus = ['-d', 'bogus=1']
    build, names = deep_build(tmp_path / 'b', bogus)
    cleanup(build.release)
    build.phase('init')
    failed = build.phase('create', env=KEY_ENV, check=False)
    assert failed.returncode == 1, failed.stderr
    assert 'mkfs' in failed.stderr
    assert 'undoing everything create did' in failed.stderr
    images = [build.image('image0'), build.image('image1')]
    assert_nothing_held(build, images, [names['mapper'], names['vg']])
    assert not os.path.lexists('/dev/md/' + names['md'])
    assert build.state()['journal'] == []
    for image in images:
        assert not os.path.exists(image)


# -- (4) the key stays out of argv, logs and state --------------------------

LUKS_ON_IMAGE = """
- local_loop: {name: image0, size: 64MiB}
- crypt:
    name: %(mapper)s
    base: image0
    passphrase-env: DIB_VM_LUKS_KEY
    pbkdf: %(pbkdf)s
    mkfs: {name: fs, type: ext4}
"""

SNAPSHOT = """#!/bin/sh
# Copies every process's command line, as ps shows them, then runs the
# real cryptsetup.
for f in /proc/[0-9]*/cmdline; do
    tr '\\0' ' ' < "$f" 2>/dev/null; echo
done >> %(log)s
exec %(real)s "$@"
"""


def test_key_never_in_argv_logs_or_state(tmp_path, cleanup):
    mapper = TAG + 'k'
    build = new_build(tmp_path, LUKS_ON_IMAGE % {'mapper': mapper,
                                                 'pbkdf': PBKDF})
    cleanup(build.release)
    wrappers = tmp_path / 'bin'
    wrappers.mkdir()
    ps_log = tmp_path / 'ps.log'
    wrapper = wrappers / 'cryptsetup'
    wrapper.write_text(SNAPSHOT % {'log': ps_log,
                                   'real': out('sh', '-c',
                                               'command -v cryptsetup')
                                   .strip()})
    wrapper.chmod(0o755)
    argv_log = tmp_path / 'argv.jsonl'
    env = dict(KEY_ENV, DIB_BD_COMMAND_LOG=str(argv_log),
               PATH='%s:%s' % (wrappers, os.environ['PATH']))
    build.phase('init')
    created = build.phase('create', env=env, debug=True)
    build.phases('writefstab', 'umount', 'cleanup')

    commands = [json.loads(line)['argv']
                for line in argv_log.read_text().splitlines()]
    assert ['cryptsetup', 'luksFormat'] in [c[:2] for c in commands]
    snapshots = ps_log.read_text()
    assert 'cryptsetup luksFormat' in snapshots
    assert 'cryptsetup open' in snapshots
    assert KEY not in snapshots
    assert KEY not in argv_log.read_text()
    assert KEY not in created.stdout + created.stderr
    crypttab = build.built('etc', 'crypttab')
    assert KEY not in crypttab
    for folder, _, names in os.walk(build.root):
        for name in names:
            if name.endswith('.raw'):
                continue
            with open(os.path.join(folder, name), errors='replace') as src:
                assert KEY not in src.read(), os.path.join(folder, name)
    # the key did work: the fresh image opens with it
    disk = held.attach(build.image('image0'), partscan=False)
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    luks_open(disk, mapper + 'f', cleanup)


# -- (5) state lost: cleanup --from-system finds the array and mapping --------

LUKS_ON_RAID1 = """
- local_loop: {name: image0, size: 64MiB}
- local_loop: {name: image1, size: 64MiB}
- mdraid:
    name: %(md)s
    base: [image0, image1]
    level: 1
    crypt:
      name: %(mapper)s
      passphrase-env: DIB_VM_LUKS_KEY
      pbkdf: %(pbkdf)s
      mkfs: {name: fs, type: ext4, mount: {mount_point: /}}
"""


def test_lost_state_is_released_from_the_system(tmp_path, cleanup):
    md, mapper = TAG + 'l', TAG + 'lc'
    build = new_build(tmp_path, LUKS_ON_RAID1 % {
        'md': md, 'mapper': mapper, 'pbkdf': PBKDF})
    cleanup(build.release)
    build.phases('init', 'create', env=KEY_ENV)
    images = [build.image('image0'), build.image('image1')]
    assert held.md_arrays() != {}
    assert mapper in held.dm_names()
    os.unlink(os.path.join(build.state_folder, 'state.json'))
    build.phase('cleanup', '--from-system')
    assert_nothing_held(build, images, [mapper])
