"""The VM tier's deep stack (RAID1 over two images' partitions, LUKS,
LVM, xfs), its names and its LUKS key: built whole by test_vm_crypt_raid
and killed at every command by test_vm_fault_injection."""
import json
import os

from diskimage_builder.block_device.tests.support.harness import Build

# pid-suffixed so that a leftover of an aborted run cannot collide.
TAG = 'dib%d' % (os.getpid() % 100000)
KEY = 'vm passphrase %s' % TAG
KEY_ENV = {'DIB_VM_LUKS_KEY': KEY}
PBKDF = '{type: pbkdf2, iterations: 1000}'

DEEP_STACK = """
- local_loop: {name: image0, size: 448MiB}
- local_loop: {name: image1, size: 448MiB}
- partitioning:
    base: image0
    label: gpt
    partitions: [{name: r0, size: 100%%, type: 'FD00'}]
- partitioning:
    base: image1
    label: gpt
    partitions: [{name: r1, size: 100%%, type: 'FD00'}]
- mdraid:
    name: %(md)s
    base: [r0, r1]
    level: 1
- crypt:
    name: %(mapper)s
    base: %(md)s
    passphrase-env: DIB_VM_LUKS_KEY
    pbkdf: %(pbkdf)s
"""

DEEP_LVM = """
- lvm:
    pvs: [{name: pv0, base: %(mapper)s}]
    vgs: [{name: %(vg)s, base: [pv0]}]
    lvs: [{name: lv_root, base: %(vg)s, extents: 100%%FREE}]
- mkfs:
    name: mkfs_root
    base: lv_root
    type: xfs
    label: root
    opts: %(opts)s
    mount: {mount_point: /, fstab: {}}
"""


def deep_build(root, opts):
    """The deep stack's build in *root*, its xfs made with *opts*:
    (build, {md, mapper, vg: names})."""
    names = {'md': TAG + 'd', 'mapper': TAG + 'dc', 'vg': TAG + 'vg',
             'pbkdf': PBKDF, 'opts': json.dumps(opts)}
    text = DEEP_STACK + DEEP_LVM
    return Build(text % names, root=root).prepare(), names
