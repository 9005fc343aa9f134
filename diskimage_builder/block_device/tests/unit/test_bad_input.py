"""A corpus of broken inputs: each is refused with exit status 2, one
error line naming where in the YAML (or params) the problem is, no
traceback, and nothing created.  Plus generated configs (hypothesis)."""
import os
import socket

import fixtures
import hypothesis
from hypothesis import strategies as st
import yaml

from diskimage_builder.block_device import cli
from diskimage_builder.block_device import config
from diskimage_builder.block_device import runner
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import ValidationCases

LOOP = '- local_loop: {name: image0, size: 1GiB}\n'


def part(partition, label='gpt'):
    return (LOOP + '- partitioning: {base: image0, label: %s, partitions: '
            '[%s]}\n' % (label, partition))


def fs(extra, fstype='ext4'):
    return LOOP + '- mkfs: {base: image0, type: %s, %s}\n' % (fstype, extra)


CONFIGS = [
    # malformed YAML and wrong shapes
    ('- local_loop: {name: a', 'config: not valid YAML'),
    ('- local_loop:\n  name: a\n   size: 1G', 'config: not valid YAML'),
    ('"\\xZZ"', 'config: not valid YAML'),
    ('', 'config: expected a non-empty list'),
    ('[]', 'config: expected a non-empty list'),
    ('42', 'config: expected a non-empty list'),
    ('{local_loop: {name: a}}', 'config: expected a non-empty list'),
    ('- 42', '[0]: expected a mapping with exactly one key'),
    ('- [local_loop]', '[0]: expected a mapping with exactly one key'),
    ('- {}', '[0]: expected a mapping with exactly one key'),
    ('- local_loop: null', '[0].local_loop: expected a mapping'),
    ('- local_loop: "image0"', '[0].local_loop: expected a mapping'),
    ('- local_loop: {name: a}\n- null', '[1]: expected a mapping'),
    # unknown plugins and keys
    ('- lokal_loop: {name: a}', "[0].lokal_loop: unknown plugin"),
    ('- "rm -rf /": {name: a}', "[0].rm -rf /: unknown plugin"),
    ('- local_loop: {name: a, nmae: b}', "unknown option 'nmae'"),
    ('- local_loop: {name: a, Size: 1G}', "unknown option 'Size'"),
    (LOOP + '- mkfs: {base: image0, type: ext4, lable: x}',
     "[1].mkfs: unknown option 'lable', did you mean 'label'?"),
    (part('{name: p, size: 1M, szie: 2M}'),
     "[1].partitioning.partitions[0]: unknown option 'szie'"),
    (LOOP + '- mount: {base: image0, mount_point: /, options: ro}',
     "[1].mount: unknown option 'options'"),
    # wrong types everywhere
    ('- local_loop: {name: 42}', '[0].local_loop.name: expected a string'),
    ('- local_loop: {name: [a]}', '[0].local_loop.name: expected a string'),
    ('- local_loop: {name: a, size: [1]}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: true}', '[0].local_loop.size'),
    ('- local_loop: {name: a, directory: 7}', '[0].local_loop.directory'),
    ('- local_loop: {name: a, block_size: "4096"}',
     '[0].local_loop.block_size'),
    (part('{name: p, size: 1M, flags: boot}'),
     '[1].partitioning.partitions[0].flags: expected a list'),
    (part('{name: p, size: 1M, type: 0x83}', 'mbr'),
     '[1].partitioning.partitions[0].type'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: {}}',
     '[1].partitioning.partitions: expected a list'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: []}',
     '[1].partitioning.partitions'),
    (LOOP + '- partitioning: {base: image0, label: dos, partitions: '
     '[{name: p, size: 1M}]}', "[1].partitioning.label: expected one of"),
    (fs('opts: 42'), '[1].mkfs.opts'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: 5}}',
     '[1].mkfs.mount.mount_point: expected a string'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: /, '
     'fstab: {dump-freq: "0"}}}', '[1].mkfs.mount.fstab.dump-freq'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: /, '
     'fstab: {options: "rw, noatime"}}}', '[1].mkfs.mount.fstab.options'),
    # huge, negative and malformed sizes
    ('- local_loop: {name: a, size: -1}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: "-1GiB"}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 99999999999999999999999}',
     '[0].local_loop.size: size'),
    ('- local_loop: {name: a, size: 9999999PiB}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 1.5.5G}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 12 parsecs}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 100}', '[0].local_loop.size: the '
     'image size 100 is not a whole number'),
    (part('{name: p, size: 0%}'), '[1].partitioning.partitions[0].size'),
    (part('{name: p, size: 150%}'), '[1].partitioning.partitions[0].size'),
    (part('{name: p, size: 2TiB}'),
     '[1].partitioning.partitions[0]: partition p needs 2 TiB'),
    (part('{name: p, size: 600MiB}, {name: q, size: 600MiB}'),
     '[1].partitioning.partitions[1]: partition q needs'),
    (LOOP + '- partitioning: {base: image0, label: gpt, align: 1000, '
     'partitions: [{name: p, size: 1M}]}', '[1].partitioning.align'),
    (fs('label: big', 'xfs').replace('1GiB', '100MiB'),
     '[1].mkfs: xfs needs at least 300 MiB'),
    # unicode and shell metacharacters in names and labels
    ('- local_loop: {name: "imäge"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a;reboot"}', '[0].local_loop.name'),
    ('- local_loop: {name: "$(id)"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a b"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a\\nb"}', '[0].local_loop.name'),
    ('- local_loop: {name: ""}', '[0].local_loop.name'),
    ('- local_loop: {name: "%s"}' % ('x' * 65), '[0].local_loop.name'),
    (fs('label: "róot"'), '[1].mkfs.label'),
    (fs('label: "a`b`"'), '[1].mkfs.label'),
    (fs('label: " x"'), '[1].mkfs.label'),
    (fs('label: "very-long-label-x"'), '[1].mkfs.label: label'),
    (fs('uuid: "not-a-uuid"'), '[1].mkfs.uuid: not a valid ext4 uuid'),
    (fs('uuid: "1234-ABCD"'), '[1].mkfs.uuid'),
    # names that would escape into /dev, the mapper namespace or files
    ('- local_loop: {name: "../../etc/passwd"}', '[0].local_loop.name'),
    ('- local_loop: {name: "/dev/sda"}', '[0].local_loop.name'),
    ('- local_loop: {name: ".."}', '[0].local_loop.name'),
    ('- local_loop: {name: "-rf"}', '[0].local_loop.name'),
    ('- local_loop: {name: "mapper/x"}', '[0].local_loop.name'),
    (part('{name: "p\\nq", size: 1MiB}'),
     '[1].partitioning.partitions[0].name'),
    # mount points
    (fs('mount: {mount_point: relative}'),
     '[1].mkfs.mount.mount_point: expected an absolute path'),
    (fs('mount: {mount_point: /../etc}'), 'must not contain ".."'),
    (fs('mount: {mount_point: /a/../../b}'), 'must not contain ".."'),
    (fs('mount: {mount_point: ""}'), '[1].mkfs.mount.mount_point'),
    (fs('mount: {mount_point: none}'),
     '[1].mkfs.mount.mount_point: swap takes mount_point "none"'),
    (fs('mount: {mount_point: /}', 'swap'),
     '[1].mkfs.mount.mount_point: swap takes'),
    # graph errors
    (LOOP + '- mkfs: {base: image1, type: ext4}', "[1].mkfs.base: base "
     "'image1' names no node"),
    (LOOP + '- mkfs: {name: image0, base: image0, type: ext4}',
     "duplicate name 'image0'"),
    (LOOP + '- mkfs: {name: a, base: a, type: ext4}', 'dependency cycle'),
    (LOOP + '- mount: {base: image0, mount_point: /}',
     '[1].mount.base: mount needs a filesystem (a mkfs node) as base; '
     'image0 is a block device'),
    (LOOP + '- fstab: {base: image0}', '[1].fstab.base: fstab needs a '
     'mount (a mount node) as base; image0 is a block device'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: '
     '[{name: p, size: 1M, base: other}]}',
     "[1].partitioning.partitions[0].base: a partition lives on"),
    (LOOP + '- partitioning: {base: image0, label: mbr, partitions: [' +
     ', '.join('{name: p%d, size: 1M, flags: [primary]}' % i
               for i in range(5)) + ']}',
     '[1].partitioning.partitions[4]: MBR holds at most 4 primary'),
    (part('{name: p, size: 1M, part-name: x}', 'mbr'),
     '[1].partitioning.partitions[0].part-name: is a GPT option'),
]


def lvm(pvs='[{name: pv, base: image0}]', vgs='[{name: vg, base: [pv]}]',
        lvs='[{name: lv, base: vg, size: 64MiB}]'):
    return LOOP + '- lvm: {pvs: %s, vgs: %s, lvs: %s}\n' % (pvs, vgs, lvs)


def crypt(extra='', name='cr'):
    return (LOOP + '- crypt: {name: %s, base: image0, passphrase-env: KEY%s}'
            '\n' % (name, extra))


def laughs(levels, width=10, indent='  '):
    """Anchors of anchors: *width* ** *levels* values in a few lines."""
    lines = ['- &l0 [%s]' % ', '.join(['x'] * width)]
    lines += ['- &l%d [%s]' % (i, ', '.join(['*l%d' % (i - 1)] * width))
              for i in range(1, levels + 1)]
    return ''.join(indent + line + '\n' for line in lines)


def nested(depth):
    return ''.join('%sa:\n' % ('  ' * i) for i in range(depth)) + \
        '  ' * depth + 'x\n'


SIMPLE_MBR = (LOOP + '- partitioning: {base: image0, label: mbr, partitions: '
              '[%s]}\n')
MANY = ', '.join('{name: p%d, size: 1MiB}' % i for i in range(252))
GUID = '6c0e9a1e-64e5-4a6a-8bd4-1b3f0b0a9c01'
NIL = '00000000-0000-0000-0000-000000000000'
LONG_VG = 'v' + '-v' * 31          # 63 characters, 31 hyphens doubled
LONG_LV = 'l' + '-l' * 20

# A: inputs that gave a traceback; each is one clean line now.
INPUT_LIMITS = [
    ('[' * 5000 + ']' * 5000, 'config: nested more than 64 levels deep'),
    ('- local_loop: ' + '[' * 100 + ']' * 100, 'config: nested more than'),
    (LOOP + '- lvm:\n    base:\n' + '\n'.join(
        '      ' + line for line in nested(80).splitlines()),
     'config: nested more than 64 levels deep'),
    ('- &a [*a]', 'config: the alias *a at line 1 refers to a collection '
     'that holds it'),
    ('- local_loop: &a {name: image0, size: 1GiB, directory: *a}',
     'config: the alias *a at line 1 refers to a collection that holds'),
    (LOOP + '- lvm: &b {base: [x, [*b]], pvs: [], vgs: [], lvs: []}',
     'config: the alias *b at line 2 refers to a collection'),
    (LOOP + '- lvm:\n    pvs: []\n    vgs: []\n    lvs: []\n    base:\n'
     + laughs(9, indent='      '),
     'config: expands to more than 100000 values'),
    ('- {x: [' + ', '.join(['*l2'] * 20) + ']}\n- y:\n' + laughs(2),
     "config: not valid YAML at line 1 column 8: found undefined alias"),
    ('- x:\n' + laughs(6) + '- y: [*l6, *l6, *l6, *l6, *l6]',
     'config: expands to more than 100000 values'),
    ('- a: &deep ' + '[' * 40 + ']' * 40 + '\n- b: ' + '[' * 30 + '*deep' +
     ']' * 30, 'config: nested more than 64 levels deep (through the '
     'alias at line 2)'),
    (lvm(pvs="[{name: pv, base: image0, options: \"--force 'x\"}]"),
     "[1].lvm.pvs[0].options: cannot split \"--force 'x\" into arguments"),
    (lvm(vgs="[{name: vg, base: [pv], options: '-s \"8M'}]"),
     '[1].lvm.vgs[0].options: cannot split'),
    (lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: 'x\\'}]"),
     '[1].lvm.lvs[0].options: cannot split'),
    (fs("opts: \"-O 'x\""), '[1].mkfs.opts: cannot split'),
    ('- local_loop: {name: a, 1: b, x: c}',
     '[0].local_loop: the key 1 is a number; keys must be strings'),
    ('- local_loop: {name: a, ~: b}', '[0].local_loop: the key None is '
     'nothing; keys must be strings'),
    ('- {42: {name: a}}', '[0]: the key 42 is a number'),
    (LOOP + '- lvm: {base: 2001-01-01, pvs: [], vgs: [], lvs: []}',
     '[1].lvm.base: YAML reads this value as a date (2001-01-01)'),
    (LOOP + '- lvm: {base: !!binary aGk=, pvs: [], vgs: [], lvs: []}',
     '[1].lvm.base: YAML reads this value as binary data'),
    (LOOP + '- lvm: {base: !!set {a, b}, pvs: [], vgs: [], lvs: []}',
     '[1].lvm.base: YAML reads this value as a set'),
    (LOOP + '- lvm: {base: !!omap [a: 1], pvs: [], vgs: [], lvs: []}',
     '[1].lvm.base[0]: YAML reads this value as a pair'),
    (fs('opts: "-L\\0x"'), "[1].mkfs.opts: '-L\\x00x' holds a NUL "
     "character"),
    (part('{name: "a\\ud800", size: 1MiB}'),
     '[1].partitioning.partitions[0].name: ' + "'a\\ud800' holds a lone "
     'UTF-16 surrogate'),
    ('- local_loop: {name: a, directory: /etc/passwd/images}',
     '[0].local_loop.directory: cannot look at /etc/passwd/images: Not a '
     'directory'),
    ('- local_loop: {name: a, directory: /etc/passwd}',
     '[0].local_loop.directory: /etc/passwd is not a directory'),
    ('- local_loop: {name: a, directory: /proc/sys/images}',
     '[0].local_loop.directory: /proc/sys/images lies in /proc'),
    ('- local_loop: {name: a, directory: /dev/shm/x}',
     '[0].local_loop.directory: /dev/shm/x lies in /dev'),
]

# B: refused at init with the YAML path; create used to fail on them.
INIT_NOT_CREATE = [
    (SIMPLE_MBR % MANY, '[1].partitioning.partitions[251]: this would be '
     'partition 256; Linux registers MBR partitions numbered up to 255'),
    (SIMPLE_MBR % ('{name: a, size: 1MiB, flags: [primary]}, ' + MANY),
     '[1].partitioning.partitions[252]: this would be partition 256'),
    ('- local_loop: {name: image0}\n- partitioning: {base: image0, label: '
     'gpt, partitions: [%s]}' % ', '.join(
         '{name: p%d, size: 1MiB}' % i for i in range(129)),
     '[1].partitioning.partitions[128]: GPT holds at most 128 partitions'),
    (part('{name: p, size: 1MiB, part-name: %s}' % ('x' * 37)),
     '[1].partitioning.partitions[0].part-name: the GPT partition name '
     "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is 37 UTF-16 code units"),
    (part('{name: p, size: 1MiB, part-name: "%s"}' % ('\U0001F4BE' * 19)),
     '[1].partitioning.partitions[0].part-name: the GPT partition name '),
    (part('{name: p, size: 1MiB, part-name: "a%sb"}' % ('\U00010348' * 18)),
     'is 38 UTF-16 code units (characters outside the BMP take two)'),
    (part('{name: %s, size: 1MiB}' % ('n' * 40)),
     '[1].partitioning.partitions[0].name: the GPT partition name '
     "'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' is 40 UTF-16 code units "
     '(characters outside the BMP take two); a GPT entry holds 36: set a '
     'shorter part-name'),
    (part('{name: "Root \U0001F600\U0001F600\U0001F600\U0001F600'
          '\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600'
          '\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600'
          '\U0001F600\U0001F600", size: 1MiB}'),
     '[1].partitioning.partitions[0].name: the GPT partition name '),
    (part('{name: p, size: 1MiB, type: "%s"}' % NIL),
     '[1].partitioning.partitions[0].type: the nil GUID marks an unused '
     'GPT entry'),
    (part('{name: p, size: 1MiB, part-uuid: "%s"}' % NIL),
     '[1].partitioning.partitions[0].part-uuid: the nil GUID'),
    (LOOP + '- partitioning: {base: image0, label: gpt, disk-uuid: '
     '"c0ffee01", partitions: [{name: p, size: 1MiB}]}',
     '[1].partitioning.disk-uuid: a GPT disk GUID is xxxxxxxx-xxxx-xxxx-'
     "xxxx-xxxxxxxxxxxx, got 'c0ffee01'"),
    (LOOP + '- partitioning: {base: image0, label: mbr, disk-uuid: '
     '"%s", partitions: [{name: p, size: 1MiB}]}' % GUID,
     '[1].partitioning.disk-uuid: an MBR disk id is 8 hex digits'),
    (LOOP + '- partitioning: {base: image0, label: gpt, disk-uuid: '
     '"%s", partitions: [{name: p, size: 1MiB}]}' % NIL,
     '[1].partitioning.disk-uuid: all zeros'),
    (LOOP + '- partitioning: {base: image0, label: mbr, disk-uuid: '
     '"00000000", partitions: [{name: p, size: 1MiB}]}',
     '[1].partitioning.disk-uuid: all zeros'),
    (part("{name: p, size: 1MiB, type: '05'}", 'mbr'),
     '[1].partitioning.partitions[0].type: type 0x05 marks an extended '
     'partition'),
    (part("{name: p, size: 1MiB, type: '0F'}", 'mbr'),
     '[1].partitioning.partitions[0].type: type 0x0f marks an extended'),
    (part("{name: p, size: 1MiB, type: '0x85', flags: [primary]}", 'mbr'),
     '[1].partitioning.partitions[0].type: type 0x85 marks an extended'),
    (part("{name: p, size: 1MiB, type: 'ee'}", 'mbr'),
     '[1].partitioning.partitions[0].type: type 0xee is the GPT '
     'protective MBR entry'),
]

# C: accepted but wrong; refused at init with the YAML path now.
TWO_DISKS = LOOP + '- local_loop: {name: image1, size: 1GiB}\n'
ACCEPTED_BUT_WRONG = [
    (part('{name: a, size: 1MiB, part-uuid: %s}, {name: b, size: 1MiB, '
          'part-uuid: %s}' % (GUID, GUID)),
     '[1].partitioning.partitions[1].part-uuid: PARTUUID %s is also given '
     'at [1].partitioning.partitions[0].part-uuid' % GUID),
    (TWO_DISKS + '- partitioning: {base: image0, label: gpt, partitions: '
     '[{name: a, size: 1MiB, part-uuid: %s}]}\n- partitioning: {base: '
     'image1, label: gpt, partitions: [{name: b, size: 1MiB, part-uuid: %s}]}'
     % (GUID, GUID.upper()), '[3].partitioning.partitions[0].part-uuid: '
     'PARTUUID %s is also given at [2].partitioning' % GUID),
    (TWO_DISKS + '- partitioning: {base: image0, label: mbr, disk-uuid: '
     'c0ffee01, partitions: [{name: a, size: 1MiB}]}\n- partitioning: '
     '{base: image1, label: mbr, disk-uuid: C0FFEE01, partitions: [{name: '
     'b, size: 1MiB}]}', '[3].partitioning.disk-uuid: disk id c0ffee01 is '
     'also given at [2].partitioning.disk-uuid'),
    (TWO_DISKS + '- mkfs: {base: image0, type: ext4, uuid: %s}\n- mkfs: '
     '{base: image1, type: xfs, uuid: %s}' % (GUID, GUID),
     '[3].mkfs.uuid: filesystem UUID %s is also given at [2].mkfs.uuid'
     % GUID),
    (TWO_DISKS + '- mkfs: {base: image0, type: ext4, uuid: %s}\n- mkfs: '
     '{base: image1, type: btrfs, uuid: %s}' % (GUID.upper(), GUID),
     '[3].mkfs.uuid: filesystem UUID %s is also given' % GUID),
    (TWO_DISKS + '- mkfs: {base: image0, type: vfat, uuid: ABCD-1234}\n- '
     'mkfs: {base: image1, type: vfat, uuid: abcd-1234}',
     '[3].mkfs.uuid: filesystem UUID abcd-1234 is also given'),
    (TWO_DISKS + '- crypt: {name: cr, base: image0, passphrase-env: K, '
     'uuid: %s}\n- mkfs: {base: image1, type: ext4, uuid: %s}'
     % (GUID, GUID), '[3].mkfs.uuid: filesystem UUID %s is also given at '
     '[2].crypt.uuid' % GUID),
    (TWO_DISKS + '- local_loop: {name: image2, size: 1GiB}\n'
     '- local_loop: {name: image3, size: 1GiB}\n'
     '- mdraid: {name: a, base: [image0, image1], level: 1, uuid: '
     '2f6f5b53-1d1e-4e77-9a52-0c3f1a5e7b10}\n- mdraid: {name: b, base: '
     '[image2, image3], level: 1, uuid: "2f6f5b53:1d1e4e77:9a520c3f:'
     '1a5e7b10"}', '[5].mdraid.uuid: md array UUID 2f6f5b531d1e4e779a520c3f'
     '1a5e7b10 is also given at [4].mdraid.uuid'),
    (lvm() + '- local_loop: {name: image1, size: 1GiB}\n- crypt: {name: '
     'vg-lv, base: image1, passphrase-env: K}',
     '[3].crypt.name: device-mapper name vg-lv is also given at '
     '[1].lvm.lvs[0].name'),
    (fs('mount: {mount_point: /, fstab: {dump-freq: -1}}'),
     '[1].mkfs.mount.fstab.dump-freq'),
    (fs('mount: {mount_point: /, fstab: {dump-freq: 2147483648}}'),
     '[1].mkfs.mount.fstab.dump-freq'),
    (fs('mount: {mount_point: /, fstab: {dump-freq: %d}}' % 2 ** 70),
     '[1].mkfs.mount.fstab.dump-freq'),
    (fs('mount: {mount_point: /, fstab: {fsck-passno: 10}}'),
     '[1].mkfs.mount.fstab.fsck-passno'),
    (fs('mount: {mount_point: /, fstab: {fsck-passno: -1}}'),
     '[1].mkfs.mount.fstab.fsck-passno'),
    (fs('mount: {mount_point: /, fstab: {fsck-passno: %d}}' % 2 ** 70),
     '[1].mkfs.mount.fstab.fsck-passno'),
    (fs('mount: {mount_point: /, fstab: {fsck-passno: true}}'),
     '[1].mkfs.mount.fstab.fsck-passno: expected a whole number'),
    (fs('mount: {mount_point: /, fstab: {fsck-passno: 1.5}}'),
     '[1].mkfs.mount.fstab.fsck-passno: expected a whole number'),
    (crypt(name='control'), "[1].crypt.name: 'control' is device-mapper's "
     "own /dev/mapper/control"),
    (lvm(vgs='[{name: mapper, base: [pv]}]', lvs='[]'),
     "[1].lvm.vgs[0].name: VG name 'mapper' is taken: LVM makes "
     "/dev/mapper"),
    (lvm(vgs='[{name: disk, base: [pv]}]', lvs='[]'),
     "[1].lvm.vgs[0].name: VG name 'disk' is taken"),
    (lvm(vgs='[{name: sda, base: [pv]}]', lvs='[]'),
     "[1].lvm.vgs[0].name: VG name 'sda' is taken"),
    (lvm(vgs='[{name: loop0, base: [pv]}]', lvs='[]'),
     "[1].lvm.vgs[0].name: VG name 'loop0' is taken"),
    (lvm(vgs='[{name: ".", base: [pv]}]', lvs='[]'),
     '[1].lvm.vgs[0].name'),
    (lvm(vgs='[{name: "..", base: [pv]}]', lvs='[]'),
     '[1].lvm.vgs[0].name'),
    (lvm(vgs='[{name: "-vg", base: [pv]}]', lvs='[]'),
     '[1].lvm.vgs[0].name'),
    (lvm(lvs='[{name: "-lv", base: vg, size: 64MiB}]'),
     '[1].lvm.lvs[0].name'),
    (lvm(lvs='[{name: "..", base: vg, size: 64MiB}]'),
     '[1].lvm.lvs[0].name'),
    (lvm(lvs='[{name: snapshot2, base: vg, size: 64MiB}]'),
     "[1].lvm.lvs[0].name: LVM reserves 'snapshot' in LV names"),
    (lvm(lvs='[{name: pvmove0, base: vg, size: 64MiB}]'),
     "[1].lvm.lvs[0].name: LVM reserves 'pvmove' in LV names"),
    (lvm(lvs='[{name: data_tmeta, base: vg, size: 64MiB}]'),
     "[1].lvm.lvs[0].name: LVM reserves '_tmeta' in LV names"),
    (lvm(vgs='[{name: %s, base: [pv]}]' % LONG_VG,
         lvs='[{name: %s, base: %s, size: 64MiB}]' % (LONG_LV, LONG_VG)),
     '[1].lvm.lvs[0].name: the device-mapper name v--v--v'),
    (lvm(vgs='[{name: %s, base: [pv]}]' % ('a' * 60),
         lvs='[{name: %s, base: %s, type: thin-pool, extents: 50%%VG}]'
         % ('p' * 62, 'a' * 60)),
     '[1].lvm.lvs[0].name: the device-mapper name %s-%s_tdata of this LV '
     'is 129 characters; the kernel takes at most 127' % ('a' * 60,
                                                          'p' * 62)),
    (lvm() + '- mkfs: {base: lv, type: ext4, mount: {mount_point: /, '
     'fstab: {spec: partuuid}}}', '[2].mkfs.mount.fstab.spec: partuuid '
     'needs a filesystem directly on a partition; mkfs_lv is on lv, an LVM '
     'LV: use label or uuid'),
    (fs('mount: {mount_point: /, fstab: {spec: partuuid}}'),
     '[1].mkfs.mount.fstab.spec: partuuid needs a filesystem directly on '
     'a partition; mkfs_image0 is on image0, a block device: use label or '
     'uuid'),
    (part('{name: p, size: 100MiB, crypt: {name: c, passphrase-env: K, '
          'mkfs: {type: ext4, mount: {mount_point: /, fstab: {spec: '
          'partuuid}}}}}'), '[1].partitioning.partitions[0].crypt.mkfs.mount.'
     'fstab.spec: partuuid needs'),
    (fs('opts: /dev/sda', 'btrfs'), "[1].mkfs.opts: '/dev/sda' would reach "
     'mkfs.btrfs as an operand, not an option: mkfs gets its one device '
     'from base'),
    (fs('opts: [-d, raid1, -m, raid1, /dev/sdb]', 'btrfs'),
     "[1].mkfs.opts[4]: '/dev/sdb' would reach mkfs.btrfs as an operand"),
    (fs('opts: "-L x /dev/sdb"', 'btrfs'), "[1].mkfs.opts: '/dev/sdb'"),
    (fs('opts: "--nodesize 16k -Kf /dev/sdb"', 'btrfs'),
     "[1].mkfs.opts: '/dev/sdb' would reach mkfs.btrfs"),
    (fs('opts: "--mixed /dev/sdb"', 'btrfs'), "[1].mkfs.opts: '/dev/sdb'"),
    (fs('opts: "-- -x"', 'btrfs'), "[1].mkfs.opts: '-x' would reach "
     "mkfs.btrfs as an operand"),
    (fs('opts: "-q /dev/sdb"'), "[1].mkfs.opts: '/dev/sdb' would reach "
     "mkfs.ext4 as an operand"),
    (fs('opts: "-i 16384 4096"'), "[1].mkfs.opts: '4096' would reach "
     "mkfs.ext4 as an operand"),
    (fs('opts: "-J device=/dev/sdb"'), '[1].mkfs.opts: -J device=/dev/sdb '
     'names another device (device=): mkfs.ext4 would write there'),
    (fs('opts: ["-Jsize=4,device=UUID=abc"]', 'ext3'),
     '[1].mkfs.opts[0]: -J size=4,device=UUID=abc names another device'),
    (fs('opts: "-l logdev=/dev/sdb,size=10m"', 'xfs'),
     '[1].mkfs.opts: -l logdev=/dev/sdb,size=10m names another device '
     '(logdev=)'),
    (fs('opts: "-r rtdev=/dev/sdc"', 'xfs'), '(rtdev=)'),
    (fs('opts: "-d file,name=/dev/sdb"', 'xfs'), '(name=)'),
    (fs('opts: "-f /dev/sdb"', 'xfs'), "[1].mkfs.opts: '/dev/sdb' would "
     'reach mkfs.xfs'),
    (fs('opts: "-F 32 65536"', 'vfat'), "[1].mkfs.opts: '65536' would "
     'reach mkfs.vfat'),
    (fs('opts: "--codepage 850 /dev/sdb"', 'vfat'), "'/dev/sdb' would "
     'reach mkfs.vfat'),
    (fs('opts: "-p 4096 1024"', 'swap'), "[1].mkfs.opts: '1024' would "
     'reach mkswap'),
    (fs('opts: "-"'), "[1].mkfs.opts: '-' would reach mkfs.ext4"),
    (lvm(pvs='[{name: pv, base: image0, options: [--force, /dev/sda]}]'),
     "[1].lvm.pvs[0].options[1]: '/dev/sda' would reach pvcreate as an "
     'operand, not an option: pvcreate gets its one device from base'),
    (lvm(pvs="[{name: pv, base: image0, options: '-ff -y /dev/sda'}]"),
     "[1].lvm.pvs[0].options: '/dev/sda' would reach pvcreate"),
    (lvm(vgs="[{name: vg, base: [pv], options: '-s 8M othervg'}]"),
     "[1].lvm.vgs[0].options: 'othervg' would reach vgcreate"),
    (lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: [vg2]}]"),
     "[1].lvm.lvs[0].options[0]: 'vg2' would reach lvcreate"),
    (lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: '-s /dev/sda'}]"),
     "[1].lvm.lvs[0].options: '/dev/sda' would reach lvcreate"),
    (lvm(pvs='[{name: pv, base: image0, options: [--devices, /dev/sda]}]'),
     '[1].lvm.pvs[0].options[1]: --devices is set by the build'),
    (lvm(vgs="[{name: vg, base: [pv], options: '--config=x'}]"),
     '[1].lvm.vgs[0].options: --config is set by the build'),
    (lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: [--devicesfile, "
         "x]}]"), '[1].lvm.lvs[0].options[1]: --devicesfile is set by the '
     'build'),
    (lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: [-n, other]}]"),
     "[1].lvm.lvs[0].options[1]: -n is made from this LV's name"),
    (lvm(lvs="[{name: lv, base: vg, extents: 10%VG, options: '-L 1G'}]"),
     "[1].lvm.lvs[0].options: -L is made from this LV's size or extents"),
    (lvm(lvs="[{name: pool, base: vg, type: thin-pool, extents: 50%VG, "
         "options: '--type raid1'}]"), "[1].lvm.lvs[0].options: --type is "
     "made from this LV's type"),
    (crypt(', options: "luks, discard"'), '[1].crypt.options: expected '
     'crypttab options, comma-separated with no spaces'),
    (crypt(', cipher: "aes-xts-plain64 /dev/sda"'), '[1].crypt.cipher'),
    (crypt(', label: "root /dev/sda"'), '[1].crypt.label'),
    (TWO_DISKS + '- mdraid: {name: md0, base: [image0, image1], level: 1, '
     'options: [/dev/sda]}', "[2].mdraid: unknown option 'options'"),
    (TWO_DISKS + '- mdraid: {name: md0, base: [image0, image1], level: 1, '
     'homehost: "x /dev/sda"}', '[2].mdraid.homehost'),
]

PARAMS = [
    ({'build-dir': None}, "params: 'build-dir' is required but missing"),
    ({'build-dir': 'relative/dir'}, 'params.build-dir: expected an absolute'),
    ({'image-size': '-5G'}, 'params.image-size'),
    ({'image-size': [1]}, 'params.image-size'),
    ({'image-dir': 3}, 'params.image-dir'),
    ({'mount-base': 'mnt'}, 'params.mount-base: expected an absolute'),
    ({'root-fs-type': 'zfs'}, "[1].mkfs.type: no type here and params "
     "root-fs-type is 'zfs'"),
    ({'colour': 'blue'}, "params: unknown option 'colour'"),
    ({'config': None}, 'params.config: missing'),
]

# A: params that gave a traceback, and folders no build may use.
PARAMS_LIMITS = [
    ({'root-fs-opts': "-O 'x"}, 'params.root-fs-opts: cannot split'),
    ({'root-fs-opts': '-E stride=4\\'}, 'params.root-fs-opts: cannot split'),
    ({'root-fs-opts': '/dev/sdb'}, "params.root-fs-opts: '/dev/sdb' would "
     'reach mkfs.ext4 as an operand'),
    ({'root-fs-opts': ['-L', 'x', '/dev/sdb']},
     "params.root-fs-opts[2]: '/dev/sdb' would reach mkfs.ext4"),
    ({'root-fs-opts': ['-J', 'device=/dev/sdb']},
     'params.root-fs-opts[1]: -J device=/dev/sdb names another device'),
    ({'build-dir': '/tmp/a\x00b'}, "params.build-dir: '/tmp/a\\x00b' holds "
     'a NUL character'),
    ({'build-dir': '/etc/passwd'}, 'params.build-dir: /etc/passwd is not a '
     'directory'),
    ({'build-dir': '/proc/self/build'}, 'params.build-dir: /proc/self/build '
     'lies in /proc'),
    ({'build-dir': '/proc'}, 'params.build-dir: /proc lies in /proc'),
    ({'build-dir': '/sys/kernel/x'}, 'params.build-dir: /sys/kernel/x lies '
     'in /sys'),
    ({'image-dir': '/etc/passwd/images'}, 'params.image-dir: cannot look at '
     '/etc/passwd/images: Not a directory'),
    ({'mount-base': '/etc/passwd'}, 'params.mount-base: /etc/passwd is not '
     'a directory'),
    ({'mount-base': '/etc/passwd/mnt'}, 'params.mount-base: cannot look at '
     '/etc/passwd/mnt'),
]

# E: labels from the params go through the same check as the config's.
PARAMS_LABELS = [
    ({'root-label': 'a\nb'}, "params.root-label: label 'a\\nb': expected "
     'letters, digits, spaces'),
    ({'root-label': 'a\tb'}, "params.root-label: label 'a\\tb'"),
    ({'root-label': 'róot'}, "params.root-label: label 'róot': expected "
     'letters'),
    ({'root-label': 'ルート'}, 'params.root-label: label'),
    ({'root-label': ' root'}, "params.root-label: label ' root': expected "
     'letters, digits, spaces (not at either end)'),
    ({'root-label': '$(reboot)'}, "params.root-label: label '$(reboot)'"),
    ({'root-label': 'cloudimg-rootfs', 'root-fs-type': 'xfs'},
     "params.root-label: label 'cloudimg-rootfs' is 15 characters; xfs "
     'allows at most 12'),
    ({'root-label': 'a-very-long-label'}, "params.root-label: label "
     "'a-very-long-label' is 17 characters; ext4 allows at most 16"),
    ({'root-label': 'efi:root', 'root-fs-type': 'vfat'},
     "params.root-label: label 'EFI:ROOT': FAT labels cannot hold"),
    ({'root-label': 'a.b', 'root-fs-type': 'vfat'},
     "params.root-label: label 'A.B': FAT labels cannot hold"),
]

# A: config and params files that are not UTF-8 text.
RAW_CONFIGS = [
    (LOOP.encode('utf-16'), 'is UTF-16 text (it starts with a byte order '
     'mark): save it as UTF-8'),
    (b'\xfe\xff' + LOOP.encode('utf-16-be'), 'is UTF-16 text'),
    (LOOP.encode('utf-32'), 'is UTF-32 text'),
    (LOOP.encode('utf-16-le'), 'holds a NUL byte at line 1 column 2 '
     '(UTF-16 text? save it as UTF-8)'),
    (b'# caf\xe9\n' + LOOP.encode(), 'is not UTF-8 text: byte 0xe9 at line '
     '1 column 6'),
    (LOOP.encode() + b'# \x80\n', 'is not UTF-8 text: byte 0x80 at line 2 '
     'column 3'),
    (b'- local_loop: {name: "\xc0\x80"}', 'byte 0xc0 at line 1 column 23'),
    (LOOP.encode() + b'#\xed\xa0\x80', 'byte 0xed at line 2 column 2'),
    (LOOP.encode() + b'# \xe2\x82', 'byte 0xe2 at line 2 column 3'),
    (LOOP.encode() + b'\x00', 'holds a NUL byte at line 2 column 1'),
]
RAW_PARAMS = [
    (b'# caf\xe9\n', 'is not UTF-8 text: byte 0xe9 at line'),
    (b'root-label: \xff\n', 'is not UTF-8 text: byte 0xff at line'),
    (b'\x00', 'holds a NUL byte'),
]


def replace_with_fifo(attribute):
    def prepare(build):
        os.unlink(getattr(build, attribute))
        os.mkfifo(getattr(build, attribute))
    return prepare


def replace_with_symlink(attribute, target):
    def prepare(build):
        os.unlink(getattr(build, attribute))
        os.symlink(target, getattr(build, attribute))
    return prepare


def replace_with_folder(attribute):
    def prepare(build):
        os.unlink(getattr(build, attribute))
        os.mkdir(getattr(build, attribute))
    return prepare


def replace_with_socket(attribute):
    def prepare(build):
        os.unlink(getattr(build, attribute))
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(getattr(build, attribute))
        sock.close()
    return prepare


def too_big(build):
    with open(build.config_path, 'a') as out:
        out.write('#' * 80 + '\n' * (1 << 20))


# A: paths that are not regular files: refused, never read (or waited on).
SPECIAL_FILES = [
    (replace_with_fifo('config_path'), 'params.config: cannot read the '
     'config %s: it is a FIFO, not a regular file'),
    (replace_with_symlink('config_path', '/dev/zero'), 'it is a character '
     'device, not a regular file'),
    (replace_with_socket('config_path'), 'it is a socket, not a regular '
     'file'),
    (replace_with_folder('config_path'), 'it is a directory, not a regular '
     'file'),
    (replace_with_symlink('config_path', '/nonexistent/c.yaml'),
     'params.config: cannot read the config %s: No such file or directory'),
    (too_big, 'params.config: the config %s is larger than 1024 KiB'),
    (replace_with_fifo('params_path'), 'params: cannot read the params file '
     '%s: it is a FIFO, not a regular file'),
    (replace_with_symlink('params_path', '/dev/null'), 'params: cannot read '
     'the params file %s: it is a character device'),
    (replace_with_folder('params_path'), 'params: cannot read the params '
     'file %s: it is a directory'),
]
SPECIAL_FILES = [(prepare, expected.split(' %s')[0])
                 for prepare, expected in SPECIAL_FILES]
SPECIAL_CONFIG_PATHS = [
    ({'config': '/dev/null'}, 'params.config: cannot read the config '
     '/dev/null: it is a character device, not a regular file'),
    ({'config': '/'}, 'params.config: cannot read the config /: it is a '
     'directory'),
    ({'config': 'file:///dev/zero'}, 'params.config: cannot read the config '
     '/dev/zero: it is a character device'),
]
BAD_FAULTS = ['during:3', 'before', 'before:', 'before:0', 'after:-1',
              'after:\u00b2', 'after:3:4', ' before:3', 'BEFORE:3',
              'after:1e3', 'before:0x10']
BUILD_ARGS = [
    (['--output', '/nonexistent-folder/x.raw'], '--output '
     '/nonexistent-folder/x.raw: the folder /nonexistent-folder does not '
     'exist'),
    (['--output', '/etc/passwd/x.raw'], '--output /etc/passwd/x.raw: the '
     'folder /etc/passwd is not a directory'),
    (['--output', 'ROOT'], '--output ROOT is a directory: name the image '
     'file'),
    (['--output', 'ROOT/x.raw', '--config', 'ROOT/none.yaml'], '--config: '
     'cannot read the config ROOT/none.yaml: No such file or directory'),
    (['--output', 'ROOT/x.raw', '--config', 'ROOT/fifo.yaml'], '--config: '
     'cannot read the config ROOT/fifo.yaml: it is a FIFO'),
    (['--output', 'ROOT/x.raw', '--compress'], '--compress needs --format '
     'qcow2 (the output is raw)'),
    (['--output', 'ROOT/x.qcow2', '--format', 'vmdk', '--compress'],
     '--compress needs --format qcow2 (the output is vmdk)'),
    (['--output', 'ROOT/x.raw', '--size=-1G'], '--size'),
    (['--output', 'ROOT/x.raw', '--root', 'ROOT/none'], '--root ROOT/none '
     'is not a directory'),
]
# Options the checks above must let through.
ACCEPTED_OPTIONS = [
    lvm(pvs='[{name: pv, base: image0, options: [--force, -y]}]',
        vgs="[{name: vg, base: [pv], options: '-s 8M --addtag x'}]",
        lvs="[{name: lv, base: vg, size: 64MiB, options: [--setactivationskip,"
            " n, -Zn, --wipesignatures=y]}]"),
    lvm(lvs="[{name: lv, base: vg, size: 64MiB, options: '--type raid1 -m 1 "
            "--nosync'}]"),
    fs('opts: "-i 16384 -O ^has_journal -E stride=4,stripe_width=8 -J '
       'size=64 -m 1 -T news"'),
    fs('opts: [-c, -j, -N, "100000", -q]', 'ext2'),
    fs('opts: "-l size=10m -n size=8192 -i size=512 -d agcount=4"', 'xfs'),
    fs('opts: "-d single -m dup --nodesize=16k --checksum xxhash -Kf"',
       'btrfs'),
    fs("opts: '-r /tmp --features ^no-holes -O block-group-tree'", 'btrfs'),
    fs('opts: "-F 32 -s 1 --codepage=850 -S 512 --invariant"', 'vfat'),
    fs('opts: "-p 4096 --pagesize 4096 -c"', 'swap'),
    part('{name: p, size: 100MiB, mkfs: {type: ext4, mount: {mount_point: '
         '/, fstab: {spec: partuuid}}}}'),
    TWO_DISKS + '- mkfs: {base: image0, type: ext4, uuid: %s}\n'
    '- partitioning: {base: image1, label: gpt, partitions: [{name: p, '
    'size: 1MiB, part-uuid: %s}]}' % (GUID, GUID),
]


class TestCorpus(ValidationCases):

    def check_configs(self, cases):
        for text, expected in cases:
            status, err, build = self.run_init(text)
            line = self.check_rejected(status, err, build, text)
            self.assertIn(expected, line, text)

    def check_params(self, cases):
        root_config = LOOP + '- mkfs: {name: mkfs_root, base: image0}\n'
        for params, expected in cases:
            status, err, build = self.run_init(root_config, **params)
            line = self.check_rejected(status, err, build, params)
            self.assertIn(expected, line, params)

    def test_config_corpus(self):
        self.check_configs(CONFIGS)

    def test_params_corpus(self):
        self.check_params(PARAMS)

    def test_input_limits(self):
        self.check_configs(INPUT_LIMITS)
        self.check_params(PARAMS_LIMITS)

    def test_refused_at_init_not_at_create(self):
        self.check_configs(INIT_NOT_CREATE)

    def test_accepted_but_wrong(self):
        self.check_configs(ACCEPTED_BUT_WRONG)

    def test_labels_from_params(self):
        self.check_params(PARAMS_LABELS)

    def test_a_config_that_points_at_itself(self):
        build = self.useFixture(Build('', devices=False))
        with open(build.config_path, 'w') as out:
            out.write('config: %s\n' % build.config_path)
        status, err, _ = self.run_init(open(build.config_path).read())
        self.assertEqual(2, status)
        self.assertIn('config: expected a non-empty list', err)

    def test_params_file_that_is_not_a_mapping(self):
        build = self.useFixture(Build(LOOP, devices=False))
        with open(build.params_path, 'w') as out:
            out.write('- just\n- a list\n')
        stderr = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr.stream))
        self.assertEqual(2, cli.main(['--params', build.params_path,
                                      'init']))
        stderr.stream.flush()
        self.assertIn('params: expected a mapping',
                      stderr.getDetails()['stderr'].as_text())

    def test_config_files_that_are_not_utf8_text(self):
        for data, expected in RAW_CONFIGS:
            def prepare(build):
                with open(build.config_path, 'wb') as out:
                    out.write(data)
            status, err, build = self.run_init('', prepare)
            line = self.check_rejected(status, err, build, data[:40])
            self.assertIn(expected, line, data[:40])
            self.assertIn('params.config: the config %s' % build.config_path,
                          line)

    def test_params_files_that_are_not_utf8_text(self):
        for data, expected in RAW_PARAMS:
            def prepare(build):
                with open(build.params_path, 'ab') as out:
                    out.write(data)
            status, err, build = self.run_init(LOOP, prepare)
            line = self.check_rejected(status, err, build, data)
            self.assertIn('params: the params file %s %s'
                          % (build.params_path, expected), line)

    def test_files_that_are_not_regular_files(self):
        # A FIFO must not hang (nothing would ever write to it), a device
        # must not be read forever: each is refused before reading.
        for prepare, expected in SPECIAL_FILES:
            status, err, build = self.run_init(LOOP, prepare)
            line = self.check_rejected(status, err, build, expected)
            self.assertIn(expected, line)
        for params, expected in SPECIAL_CONFIG_PATHS:
            status, err, build = self.run_init(LOOP, **params)
            line = self.check_rejected(status, err, build, params)
            self.assertIn(expected, line, params)

    def test_image_path_that_is_a_directory(self):
        # Refused at init while it is there (the host tier has it made
        # between init and create); the folder is left as it was.
        def prepare(build):
            os.makedirs(os.path.join(build.image_dir, 'image0.raw', 'x'))
        status, err, build = self.run_init(LOOP, prepare)
        self.assertEqual(2, status, err)
        self.assertEqual(1, err.count('error:'), err)
        self.assertIn('init: error: [0].local_loop: the image %s/image0.raw '
                      'is a directory: remove it, or choose another name or '
                      'directory' % build.image_dir, err)
        self.assertFalse(os.path.exists(build.build_dir))
        self.assertEqual(['image0.raw'], os.listdir(build.image_dir))

    def test_getval_does_not_hang_on_a_fifo(self):
        status, err, build = self.run_init(
            LOOP, replace_with_fifo('params_path'), argv=('getval',
                                                          'root-label'))
        self.assertEqual(2, status)
        self.assertIn('params: cannot read the params file %s: it is a '
                      'FIFO' % build.params_path, err)

    def test_a_malformed_fault_injection_switch(self):
        # Checked before the first command (and before anything else).
        for value in BAD_FAULTS:
            self.useFixture(fixtures.EnvironmentVariable(
                'DIB_BD_FAULT_INJECT', value))
            status, err, build = self.run_init(LOOP, argv=('create',))
            line = self.check_rejected(status, err, build, value)
            self.assertIn('create: error: DIB_BD_FAULT_INJECT: expected '
                          'before:N or after:N with N a command number from '
                          '1, got %r' % value, line)
        self.assertEqual(('after', 7), runner._parse_fault('after:7'))
        self.assertIsNone(runner._parse_fault(''))

    def test_build_arguments(self):
        root = self.useFixture(fixtures.TempDir()).path
        tree = os.path.join(root, 'tree')
        os.mkdir(tree)
        os.mkfifo(os.path.join(root, 'fifo.yaml'))
        for args, expected in BUILD_ARGS:
            args = [a.replace('ROOT', root) for a in args]
            stderr = self.useFixture(fixtures.StringStream('stderr'))
            self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr.stream))
            status = cli.main(['build', '--root', tree] + args)
            stderr.stream.flush()
            err = stderr.getDetails()['stderr'].as_text()
            self.assertEqual(2, status, (args, err))
            errors = [line for line in err.splitlines() if 'error:' in line]
            self.assertEqual(1, len(errors), (args, err))
            self.assertIn(expected.replace('ROOT', root), errors[0])
            self.assertNotIn('Traceback', err)
            # No scratch folder left beside the output.
            self.assertEqual(['fifo.yaml', 'tree'], sorted(os.listdir(root)))

    def test_corpus_size(self):
        total = (len(CONFIGS) + len(PARAMS) + 2 + len(INPUT_LIMITS) +
                 len(PARAMS_LIMITS) + len(INIT_NOT_CREATE) +
                 len(ACCEPTED_BUT_WRONG) + len(PARAMS_LABELS) +
                 len(RAW_CONFIGS) + len(RAW_PARAMS) + len(SPECIAL_FILES) +
                 len(SPECIAL_CONFIG_PATHS) + 2 + len(BAD_FAULTS) +
                 len(BUILD_ARGS))
        print('%d bad inputs rejected cleanly' % total)
        self.assertGreaterEqual(total, 60)


class TestStillAccepted(TestCase):
    """What the new checks must let through."""

    def build(self, text, **params):
        base = {'build-dir': '/nonexistent/b', 'image-dir': '/nonexistent/i',
                'mount-base': '/m', 'root-fs-type': 'ext4'}
        base.update(params)
        return config.build(yaml.safe_load(text), base)

    def test_options(self):
        for text in ACCEPTED_OPTIONS:
            self.build(text)

    def test_limits_themselves(self):
        logical = ', '.join('{name: p%d, size: 1MiB}' % i for i in range(251))
        nodes = self.build(SIMPLE_MBR % logical)
        self.assertEqual(255, max(n.facts.get('number', 0) for n in nodes))
        self.build(part('{name: p, size: 1MiB, part-name: "%s"}'
                        % ('\U0001F4BE' * 18)))
        self.build(part('{name: %s, size: 1MiB}' % ('n' * 36)))
        # 60 + 1 + 62: a plain LV fits where a thin pool's layers do not.
        self.build(lvm(vgs='[{name: %s, base: [pv]}]' % ('a' * 60),
                       lvs='[{name: %s, base: %s, size: 64MiB}]'
                       % ('p' * 62, 'a' * 60)))
        for vg in ('vg', 'data', 'system', 'hdd', 'sdcard', 'vg-img'):
            self.build(lvm(vgs='[{name: %s, base: [pv]}]' % vg, lvs='[]'))
        self.build(crypt(name='controller'))

    def test_a_nul_from_python_data(self):
        # YAML text gets it refused when read; data handed in directly
        # gets it refused too.
        items = yaml.safe_load(part('{name: p, size: 1MiB}'))
        items[1]['partitioning']['partitions'][0]['part-name'] = 'a\x00b'
        err = self.assertRaises(ConfigError, config.build, items, {
            'build-dir': '/b', 'root-fs-type': 'ext4'})
        self.assertEqual('[1].partitioning.partitions[0].part-name', err.path)


# -- generated configs ---------------------------------------------------
PLUGINS = ['local_loop', 'partitioning', 'mkfs', 'mount', 'fstab',
           'lvm', 'crypt', 'mdraid', 'bogus']
KEYS = ['name', 'base', 'size', 'type', 'label', 'mount_point', 'options',
        'partitions', 'flags', 'opts', 'uuid', 'block_size', 'directory',
        'align', 'pvs', 'vgs', 'lvs', 'level', 'fsck-passno', 'spec', 'x',
        'part-name', 'part-uuid', 'disk-uuid', 'extents', 'thin-pool']
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(['image0', 'root', '1GiB', '100%', '50%', '-1', '/',
                     '/boot', '../x', 'ext4', 'xfs', 'vfat', 'gpt', 'mbr',
                     'EF00', '83', 'none', '$(id)', 'a b', 'ünï', '05', 'ee',
                     '/dev/sda', '-L x', "-O 'x", 'control', 'mapper',
                     'partuuid', NIL, GUID, 'c0ffee01', 'n' * 40]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8)
entries = st.builds(lambda plugin, options: {plugin: options},
                    st.sampled_from(PLUGINS),
                    st.one_of(values, st.dictionaries(
                        st.sampled_from(KEYS + PLUGINS), values,
                        max_size=5)))
configs = st.lists(entries, max_size=5)


class TestGenerated(TestCase):

    @hypothesis.settings(max_examples=300, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(configs)
    def test_never_a_traceback(self, items):
        params = {'build-dir': '/nonexistent/b', 'image-dir': '/i',
                  'mount-base': '/m', 'root-fs-type': 'ext4'}
        try:
            config.build(items, params)
        except ConfigError as err:
            self.assertTrue(str(err))

    @hypothesis.settings(max_examples=40, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(configs)
    def test_rejection_has_no_side_effect(self, items):
        text = yaml.safe_dump(items)
        build = Build(text, devices=False)
        build.setUp()
        try:
            stderr = fixtures.StringStream('stderr')
            stderr.setUp()
            patch = fixtures.MonkeyPatch('sys.stderr', stderr.stream)
            patch.setUp()
            try:
                status = cli.main(['--params', build.params_path, 'init'])
            finally:
                patch.cleanUp()
            stderr.stream.flush()
            err = stderr.getDetails()['stderr'].as_text()
            stderr.cleanUp()
            self.assertIn(status, (0, 2), err)
            self.assertNotIn('Traceback', err)
            if status == 2:
                self.assertFalse(os.path.exists(build.build_dir))
            self.assertFalse(os.path.exists(build.image_dir))
        finally:
            build.cleanUp()
