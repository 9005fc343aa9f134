"""``lvm``: physical volumes, volume groups and logical volumes.

The options of the entry and of each PV, VG and LV are described in
:mod:`lvmschema` (and the README's tables, made from it).  Every PV, VG
and LV is a node.  An LV size goes to lvcreate in bytes, which rounds it
up to the VG's extent size; the planner (:func:`lvmspec.allocate`) counts
the same way, so a layout that does not fit fails at init.

Isolation from the build host: every LVM command gets ``--devices`` with
the VG's own PVs (lvm2 2.03.12 and later; Debian bookworm has 2.03.16), so
LVM sees no other device: a host VG, or a parallel build's VG of the same
name, appears missing.  ``--config`` then turns off udev synchronisation
and rules (LVM makes its /dev nodes itself; no ``udevadm settle`` is ever
run), dmeventd monitoring (no daemon left behind), metadata backups
(nothing written to the host's /etc/lvm), hints, the host's filters
(within ``--devices`` everything is the image's) and the host's system ID
(a VG stamped with it would be foreign to the booted image).  The VG
keeps its configured name, the image needs it: an active VG of that name
on the host is refused before anything is created, and the name is
claimed so that two builds never use it at once.

Teardown, from the journal alone: ``lvm-lv`` deactivates one LV (a pool
with its hidden LVs) and ``lvm-vg`` the whole VG, each only if sysfs shows
it active and with only the image's PVs visible; ``lvm-pv`` undoes nothing
(the image is kept or deleted whole) but names any holder left on the PV.

Host tools: lvm2 (pvcreate vgcreate lvcreate lvchange vgchange), and
thin-provisioning-tools for thin pools.
"""

import os

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import lvmkernel
from diskimage_builder.block_device.level1 import lvmschema
from diskimage_builder.block_device.level1 import lvmspec as spec


class PvNode(plugin.Node):
    """``pvcreate`` on a block device."""
    kind = 'pv'
    needs_kernel = 'device-mapper (LVM)'
    provides = frozenset([plugin.LVM_PV])
    accepts = (plugin.BLOCK_DEVICE,)

    def validate(self, graph, params):
        spec.check_options(self, spec.PVCREATE,
                           'pvcreate gets its one device from base')
        if plugin.LVM_LV in graph[self.deps[0]].provides:
            raise ConfigError(self.path + '.base', 'a PV cannot be on an '
                              'LV (%s): LVM does not scan LVs for PVs'
                              % self.deps[0])

    def plan(self, pctx):
        base = pctx.of(self.deps[0])
        options = spec.option_list(self.options.get('options'))
        known = base.size is not None and not any(
            o.split('=')[0] in spec.PV_LAYOUT_OPTIONS for o in options)
        pctx.set(self, zeroed=base.zeroed, details={
            'data_bytes': max(base.size - spec.DEFAULT_PE_START, 0)
            if known else None})

    def create(self, ctx):
        device = ctx.device(self.deps[0])
        ctx.hold(self, 'lvm-pv', device=device)
        ctx.run(['pvcreate', *spec.lvm_args([device]), '--yes',
                 *spec.option_list(self.options.get('options')), device])
        ctx.record(self, pv_device=device)


class VgNode(plugin.Node):
    """``vgcreate`` over the PVs; it hands its extents to its LVs (plan)
    and its teardown deactivates every LV."""
    kind = 'vg'
    needs_kernel = 'device-mapper (LVM)'
    provides = frozenset([plugin.LVM_VG])
    accepts = (plugin.LVM_PV,)

    def validate(self, graph, params):
        spec.check_vg_name(self.name, self.path + '.name')
        spec.check_options(self, spec.VGCREATE, 'vgcreate gets the VG name '
                           'and its PVs from this entry')
        if not self.deps:
            raise ConfigError(self.path + '.base', 'a VG is built on one or '
                              'more PVs: list names of pvs entries')
        percent = 0
        for lv in self.lvs(graph):
            extents = lv.options.get('extents')
            if extents is None or lv.facts['lv_type'] == 'thin':
                continue
            try:
                count, base = spec.parse_extents(extents)
            except sizes.SizeError:
                continue        # the LV reports it at its own path
            if base in ('VG', 'PVS'):
                percent += count
                if percent > 100:
                    raise ConfigError(lv.path + '.extents', 'the LVs of VG '
                                      '%s ask for %d%% of it in total'
                                      % (self.name, percent))

    def lvs(self, graph):
        """The LVs made in this VG, in creation order."""
        return [n for n in graph.values()
                if isinstance(n, LvNode) and n.vg == self.name]

    def check(self, ctx):
        clash = sorted(lvmkernel.active_lvs(ctx.host, self.name))
        if clash:
            raise UsageError(
                '%s: a VG named %s is already active on this host (%s); '
                'the image needs this name, so deactivate that VG or rename '
                'the VG in the config' % (self.path, self.name,
                                          ', '.join(clash)))
        # No LV of this name is active, so /dev/<vg> is not this VG's:
        # vgcreate refuses a name /dev holds, folders (/dev/disk) too.
        path = os.path.join(ctx.host.dev_root, self.name)
        if os.path.lexists(path):
            raise UsageError('%s: VG name %s is taken by %s, which LVM '
                             'needs for the VG\'s device directory'
                             % (self.path, self.name, path))
        return ['VG %s: no VG of that name is active on this host'
                % self.name]

    def plan(self, pctx):
        # New LVs on PVs that read as zeros read as zeros too: mkfs may
        # skip discarding them.
        zeroed = all(pctx.of(pv).zeroed for pv in self.deps)
        extent = spec.extent_size(self.options.get('options'))
        pvs = [pctx.of(pv).details.get('data_bytes') for pv in self.deps]
        if extent is None or None in pvs:
            pctx.set(self, zeroed=zeroed)
            return
        total = sum(b // extent for b in pvs)
        allocation, free = spec.allocate(self.name, self.lvs(pctx.nodes),
                                         extent, total)
        pctx.set(self, zeroed=zeroed, details={
            'extent_size': extent, 'extents': total, 'free': free,
            'allocation': allocation})

    def create(self, ctx):
        # Two active VGs of one name collide in /dev/mapper and /dev/<vg>.
        ctx.claim(self, 'vg', self.name)
        devices = [ctx.results(pv)['pv_device'] for pv in self.deps]
        ctx.hold(self, 'lvm-vg', vg=self.name, devices=devices,
                 devnums=[ctx.host.devnum(d) for d in devices],
                 ids=[ctx.host.device_identity(d) for d in devices])
        ctx.run(['vgcreate', *spec.lvm_args(devices),
                 *spec.option_list(self.options.get('options')), self.name,
                 *devices])
        ctx.record(self, vg=self.name, devices=devices)


class LvNode(plugin.Node):
    """``lvcreate``: a plain LV, a thin pool or a thin LV."""
    kind = 'lv'
    needs_kernel = 'device-mapper (LVM)'
    accepts = (plugin.LVM_VG, plugin.LVM_THIN_POOL)

    @property
    def provides(self):
        # A thin pool's own device is not for filesystems.
        return frozenset([plugin.LVM_THIN_POOL] if self.lv_type ==
                         'thin-pool' else [plugin.BLOCK_DEVICE,
                                           plugin.LVM_LV])

    @property
    def vg(self):
        return self.deps[0]

    @property
    def lv_type(self):
        return self.facts['lv_type']

    def base_path(self, index):
        return self.path + ('.base' if index == 0 else '.thin-pool')

    def link(self, graph):
        # Added here, not in expand, so that a pool naming nothing is
        # reported at .thin-pool rather than as a dangling base.
        pool = self.options.get('thin-pool')
        if self.lv_type == 'thin' and pool in graph and \
                pool not in self.deps:
            self.deps.append(pool)

    def validate(self, graph, params):
        spec.check_lv_name(self.path, self.name, self.dm_names())
        spec.check_lv_amount(self.path, self.options, self.lv_type)
        own = dict(spec.LV_OWN_OPTIONS)
        if self.lv_type != 'lv':
            own['--type'] = 'type'
        spec.check_options(self, spec.LVCREATE,
                           'lvcreate gets the VG from base', own)
        pool = self.options.get('thin-pool')
        if self.lv_type == 'thin':
            if pool is None:
                raise ConfigError(self.path, 'a thin LV needs thin-pool: '
                                  'the name of a type thin-pool LV')
            if pool not in graph:
                raise ConfigError(self.path + '.thin-pool', 'names no node: '
                                  'expected a thin-pool LV of VG %s'
                                  % self.vg)
            if graph[pool].deps[0] != self.vg:
                raise ConfigError(self.path + '.thin-pool', 'thin pool %s '
                                  'is in VG %s, not %s' % (
                                      pool, graph[pool].deps[0], self.vg))
        elif pool is not None:
            raise ConfigError(self.path + '.thin-pool', 'only a type thin '
                              'LV takes a thin-pool')

    def dm_names(self):
        return spec.lv_dm_names(self.vg, self.name, self.lv_type)

    def identifiers(self):
        return [('device-mapper name', name, self.path + '.name')
                for name in self.dm_names()]

    def plan(self, pctx):
        vg = pctx.of(self.vg)
        # Unwritten blocks of a thin LV always read as zeros.
        zeroed = self.lv_type == 'thin' or vg.zeroed
        size = spec.parse_lv_size(self.options['size']) \
            if 'size' in self.options else None
        extents = vg.details.get('allocation', {}).get(self.name)
        if extents is not None:
            size = extents * vg.details['extent_size']
        pctx.set(self, size=size, zeroed=zeroed,
                 details={'extents': extents})

    def argv(self, devices):
        argv = ['lvcreate', *spec.lvm_args(devices), '--yes']
        if self.lv_type != 'lv':
            argv += ['--type', self.lv_type]
        if self.lv_type == 'thin':
            argv += ['--thinpool', self.options['thin-pool'],
                     '--virtualsize', spec.lv_size_arg(self.options['size'])]
        elif 'size' in self.options:
            argv += ['--size', spec.lv_size_arg(self.options['size'])]
        else:
            argv += ['--extents', str(self.options['extents']).replace(
                ' ', '')]
        return argv + ['--name', self.name,
                       *spec.option_list(self.options.get('options')), self.vg]

    def create(self, ctx):
        devices = ctx.results(self.vg)['devices']
        ctx.hold(self, 'lvm-lv', vg=self.vg, lv=self.name, devices=devices,
                 devnums=[ctx.host.devnum(d) for d in devices],
                 ids=[ctx.host.device_identity(d) for d in devices],
                 lv_type=self.lv_type)
        ctx.run(self.argv(devices))
        values = {'vg': self.vg, 'lv': self.name, 'lv_type': self.lv_type,
                  'mapper': spec.mapper_name(self.vg, self.name)}
        if self.lv_type != 'thin-pool':
            # A pool's own device is read-only and not for filesystems.
            values['device'] = self._device(ctx)
        ctx.record(self, **values)

    def _device(self, ctx):
        # /dev/mapper/<vg>-<lv> as diskimage-builder's layer gives it (in
        # image-block-devices too), or /dev/<vg>/<lv>: with udev rules
        # off LVM makes both itself; if /dev took neither, the kernel's
        # dm-N node is the device.
        mapper = spec.mapper_name(self.vg, self.name)
        for path in (os.path.join(ctx.host.dev_root, 'mapper', mapper),
                     os.path.join(ctx.host.dev_root, self.vg, self.name)):
            if ctx.host.is_block_device(path):
                return path
        dm = ctx.host.dm_devices().get(mapper)
        if dm is None:
            raise BlockDeviceError('lvcreate made no active device for %s/%s'
                                   % (self.vg, self.name))
        ctx.say('%s is missing: using the kernel name %s', path, dm.kname)
        return ctx.host.wait_for_node(
            dm.kname, on_create=lambda node, devnum: ctx.hold(
                self, 'device-node', path=node, devnum=devnum))


class Lvm(plugin.Plugin):
    SCHEMA = lvmschema.SCHEMA
    NESTED_ITEMS = ('lvs',)
    NODE_TYPES = (PvNode, VgNode, LvNode)

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        nodes = []
        for index, pv in enumerate(options['pvs']):
            nodes.append(PvNode(plugin_name, pv['name'], '%s.pvs[%d]'
                                % (path, index), [pv['base']], pv))
        for index, vg in enumerate(options['vgs']):
            nodes.append(VgNode(plugin_name, vg['name'], '%s.vgs[%d]'
                                % (path, index), plugin.as_list(vg['base']),
                                vg))
        for index, lv in enumerate(options['lvs']):
            nodes.append(LvNode(plugin_name, lv['name'], '%s.lvs[%d]'
                                % (path, index), [lv['base']], lv,
                                {'lv_type': lv.get('type', 'lv'),
                                 'boot_device': '/dev/%s/%s' % (
                                     lv['base'], lv['name'])}))
        return nodes


# diskimage-builder registers its lvm plugin under this name; installed
# over it, this package's module takes its place, and the entry point in
# diskimage-builder's own metadata must still resolve.
LVMPlugin = Lvm
