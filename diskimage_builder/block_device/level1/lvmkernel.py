"""What the kernel holds of LVM, and how LVM resources are released:
``lvm-lv`` deactivates one LV (a pool with its hidden LVs) and ``lvm-vg``
the whole VG, each only if sysfs shows it active, only if it stands on
this build's PVs alone (by the device numbers recorded when they were
made), and with only those PVs visible to LVM; ``lvm-pv`` undoes nothing
(the image is kept or deleted whole) but names any holder left on it."""
import os

from diskimage_builder.block_device import resources
from diskimage_builder.block_device.level1.lvmspec import lvm_args
from diskimage_builder.block_device.level1.lvmspec import split_mapper_name


def active_lvs(host, vg):
    """{dm name: DmDevice} of the active LVs (and hidden sub-LVs) of VG
    *vg*."""
    return {name: dm for name, dm in host.dm_devices().items()
            if dm.uuid.startswith('LVM-') and
            split_mapper_name(name)[0] == vg}


def lv_is_active(host, vg, lv):
    # A thin pool is active through its hidden _tdata and _tmeta LVs.
    own = (lv, lv + '_tdata', lv + '_tmeta')
    return any(split_mapper_name(name)[1] in own
               for name in active_lvs(host, vg) if '-' in name)


def stands_on(host, vg):
    """{kernel name: device number} of the PVs the active LVs of *vg*
    stand on: below the LVs, through LVM's own layers (a thin pool's
    hidden LVs), the first device that is not one of them (a partition,
    a LUKS mapping, an md array)."""
    lvs = {dm.kname for dm in active_lvs(host, vg).values()}
    found, todo, seen = {}, sorted(lvs), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for slave in host.slaves(name):
            if slave in lvs:
                todo.append(slave)
            else:
                found[slave] = host.attr(slave, 'dev')
    return found


def check_ours(scope, args):
    """NotOurs unless the active VG stands on this build's PVs only (by
    the device numbers recorded when they were made); without a journal,
    on images below image-dir only."""
    vg = args['vg']
    under = stands_on(scope.host, vg)
    if scope.from_system:
        # No journal: every device at the bottom of each PV (through LUKS
        # or md) must be an image below image-dir.
        prefix = os.path.realpath(scope.image_dir or '/nonexistent') + '/'
        foreign = [n for n in under if any(
            not (scope.host.backing_file(leaf) or '').startswith(prefix)
            for leaf in scope.host.devices_under(n) or [n])]
    else:
        foreign = [n for n, devnum in under.items()
                   if not _pv_is_ours(scope, args, n, devnum)]
    if foreign or not under or not (args.get('devnums') or
                                    scope.from_system):
        raise resources.NotOurs('VG %s is active on %s, not (only) on this '
                                'build\'s PVs: left alone; deactivate it by '
                                'hand if it is this build\'s'
                                % (vg, ', '.join(sorted(under)) or 'nothing'))


def _pv_is_ours(scope, args, kname, devnum):
    """By the PVs' identities (a loop partition by its image file and
    number), or, in a state of an older version, by their numbers."""
    if args.get('ids'):
        return scope.host.device_identity(os.path.join(
            scope.host.dev_root, kname)) in args['ids']
    return devnum in (args.get('devnums') or [])


def _visible_devices(scope, args):
    devices = [d for d in args.get('devices', [])
               if scope.host.is_block_device(d)]
    if scope.from_system:
        devices = [os.path.join(scope.host.dev_root, kname) for kname in
                   sorted(stands_on(scope.host, args['vg']))]
    if not devices:
        raise resources.ReleaseError('VG %s still has active LVs but its PVs '
                                     'are gone' % args['vg'])
    return devices


# -- teardown -------------------------------------------------------------

@resources.releaser('lvm-lv', tools=lambda args: ('lvchange',) + (
    ('thin_check',) if args.get('lv_type', 'lv') != 'lv' else ()),
    by_name=True)
def release_lv(scope, args):
    if not lv_is_active(scope.host, args['vg'], args['lv']):
        return
    check_ours(scope, args)
    scope.runner.run(['lvchange', *lvm_args(_visible_devices(scope, args)),
                      '--activate', 'n', '%s/%s' % (args['vg'], args['lv'])])


@resources.releaser('lvm-vg', tools=('vgchange',), by_name=True)
def release_vg(scope, args):
    # Checked by name in sysfs, then deactivated with only this build's
    # PVs visible: a parallel build's VG of the same name is never seen.
    if not active_lvs(scope.host, args['vg']):
        return
    check_ours(scope, args)
    scope.runner.run(['vgchange', *lvm_args(_visible_devices(scope, args)),
                      '--activate', 'n', args['vg']])


@resources.releaser('lvm-pv')
def release_pv(scope, args):
    # Nothing to undo on the PV itself (the image is deleted or kept as
    # is); this only makes a left-over holder a clear error here rather
    # than a busy loop device later.
    device = args['device']
    if not scope.host.is_block_device(device):
        return
    left = scope.host.holders(scope.host.kernel_name(device))
    if left:
        names = {dm.kname: name
                 for name, dm in scope.host.dm_devices().items()}
        raise resources.ReleaseError('PV %s is still held by %s' % (
            device, ', '.join('%s (%s)' % (k, names.get(k, '?'))
                              for k in left)))
