"""Layouts several host-tier tests build: a GPT with BIOS boot, /boot on
ext2, swap, xfs /home and ext4 /; an MBR with primaries and logicals and
five filesystems."""

GPT = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: gpt
    disk-uuid: 6c0e9a1e-64e5-4a6a-8bd4-1b3f0b0a9c01
    partitions:
      - name: BSP
        type: 'EF02'
        size: 8MiB
      - name: boot
        size: 128MiB
        flags: [boot]
        part-name: boot-part
        part-uuid: 1a2b3c4d-0000-4000-8000-00000000b007
        attributes: [60]
        mkfs:
          type: ext2
          label: BOOT
          mount: {mount_point: /boot, fstab: {spec: partuuid}}
      - name: swap
        type: '8200'
        size: 32MiB
        mkfs: {type: swap, mount: {mount_point: none, fstab: {}}}
      - name: home
        type: '8302'
        size: 320MiB
        mkfs:
          type: xfs
          mount: {mount_point: /home, fstab: {options: 'rw,nodev', spec: uuid}}
      - name: root
        size: 100%
        mkfs:
          mount: {mount_point: /, fstab: {}}
"""

MBR = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    disk-uuid: 'c0ffee01'
    partitions:
      - name: boot
        flags: [boot, primary]
        size: 100MiB
        mkfs: {type: ext3, mount: {mount_point: /boot, fstab: {}}}
      - name: root
        flags: [primary]
        size: 20%
        mkfs: {type: ext4, mount: {mount_point: /, fstab: {}}}
      - name: var
        type: '83'
        size: 320MiB
        mkfs: {type: xfs, mount: {mount_point: /var, fstab: {}}}
      - name: srv
        size: 50%
        mkfs: {type: btrfs, mount: {mount_point: /srv, fstab: {}}}
      - name: tmp
        size: 100%
        mkfs: {type: ext2, label: scratch,
               mount: {mount_point: /var/tmp, fstab: {}}}
"""
