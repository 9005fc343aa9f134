"""The phase driver: init, plan, create (and its check), writefstab; the
releasing phases are in :mod:`teardown`.

``create`` first records a run of every node's ``check`` and ``create``
(:mod:`context`): from it come the host tools the build needs and the
host-wide names it claims.  Then it runs the checks for real (read-only),
claims every name, and creates node after node in graph order, each
resource journaled before it is acquired.  If a node fails, the whole
journal is released in reverse and the first error is what is reported.
``plan`` is the recorded run shown, and ``cleanup --from-system`` looks
for what the recorded run holds.
"""
import contextlib
import logging
import os

from diskimage_builder.block_device import claims
from diskimage_builder.block_device import context as context_mod
from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import teardown as teardown_mod
from diskimage_builder.block_device import tools as tools_mod
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import StateError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device import node as node_mod
from diskimage_builder.block_device.node import Planned
from diskimage_builder.block_device.repro import Repro

LOG = logging.getLogger(__name__)
TeardownError = teardown_mod.TeardownError
teardown = teardown_mod.teardown


class PlanContext:
    """What ``plan`` steps share: params, the nodes, each node's
    :class:`Planned` (a node sets its own)."""

    def __init__(self, params, nodes, sizes_known_only=False, host=None):
        from diskimage_builder.block_device import host as host_lib
        self.params = params
        self.nodes = {node.name: node for node in nodes}
        self.sizes_known_only = sizes_known_only
        self.host = host or host_lib.HOST
        self.planned = {}

    def of(self, name):
        return self.planned.get(name) or Planned()

    def set(self, node, details=None, **fields):
        # A device made on another keeps its sector size unless told, and
        # the sector size it has at boot (boot_sector, where a dm-verity
        # device below makes it larger than the build's).
        details = dict(details or {})
        if node.deps:
            below = self.of(node.deps[0])
            fields.setdefault('sector_size', below.sector_size)
            if 'boot_sector' in below.details:
                details.setdefault('boot_sector',
                                   below.details['boot_sector'])
        self.planned[node.name] = Planned(
            details=context_mod.frozen(details), **fields)
        return self.planned[node.name]


def init(params):
    from diskimage_builder.block_device import config as config_mod
    trust.check_params_folders(params)
    nodes, classes = config_mod.build_with_plugins(
        config_mod.read_config(params), params)
    plan(params, nodes, sizes_known_only=True)
    folder = state_mod.state_dir(params['build-dir'])
    with state_mod.locked(folder, create=True):
        _refuse_while_held(folder)
        state_mod.write_json(os.path.join(folder, 'config.json'), {
            'version': state_mod.FORMAT_VERSION,
            'params': params,
            'nodes': [node.to_json() for node in nodes],
            'plugins': plugin_mod.recorded(classes),
            'values': config_mod.summary(nodes, params),
        })
    LOG.info('config checked: %d nodes, written to %s/config.json',
             len(nodes), folder)


def _refuse_while_held(folder):
    # A new config.json would lose the image paths, directories and
    # plugins the held resources were recorded against.
    try:
        held = state_mod.State.load(folder)
    except BlockDeviceError:
        held = None       # damaged: cleanup --from-system is the way out
    if held is not None and held.journal:
        raise StateError('the build still holds %d resource(s) (%s): run '
                         'dib-block-device cleanup before init'
                         % (len(held.journal), ', '.join(sorted({
                             e['kind'] for e in held.journal}))))


def load_nodes(data):
    classes = plugin_mod.load_recorded(
        [spec['plugin'] for spec in data['nodes']], data.get('plugins'))
    nodes = []
    for spec in data['nodes']:
        if spec['plugin'] not in classes:
            raise StateError('plugin %r used by node %s is not installed'
                             % (spec['plugin'], spec['name']))
        nodes.append(classes[spec['plugin']].node_from_json(spec))
    return nodes


def plan(params, nodes, sizes_known_only=False):
    """Run every node's pure planning step; return {name: Planned}.

    At init the image size may not be known yet (the builder passes it on
    its second init): then the size-dependent checks wait for ``create``.
    """
    pctx = PlanContext(params, nodes, sizes_known_only)
    for node in nodes:
        node.plan(pctx)
    return pctx.planned


def record(params, nodes, planned, repro=None):
    """A recorded run of every node's ``check`` then ``create``: the
    commands, holds and claims a real one would make.  What the host
    would refuse (a disk in use) is kept in ``refused``, and the
    recording goes on: ``plan`` shows it; create's real check raises
    it."""
    rec = context_mod.RecordingContext(params, nodes, planned, repro=repro)
    for phase, method in (('preflight', 'check'), ('create', 'create')):
        refused = set()
        for node in nodes:
            if refused.intersection(node.deps):
                refused.add(node.name)      # nothing to build on
                continue
            try:
                rec.record_node(node, phase, getattr(node, method))
            except UsageError as err:
                if str(err) not in rec.refused:
                    rec.refused.append(str(err))
                refused.add(node.name)
    return rec


def plan_view(params, fmt, repro=None):
    """``plan``: every node, its planned sizes and the commands create
    will run, touching nothing."""
    from diskimage_builder.block_device import config as config_mod
    from diskimage_builder.block_device import planview
    nodes = config_mod.build(config_mod.read_config(params), params)
    planned = plan(params, nodes)
    return planview.render(planview.build_plan(
        nodes, planned, record(params, nodes, planned, repro)), fmt)


def _checked(params, runner, action, repro):
    """Everything create checks before its first side effect: params,
    nodes, the plan, the host tools, and each node's checks of the host.
    Called with the lock held."""
    data = state_mod.load_build(params)
    params = data['params']
    nodes = load_nodes(data)
    trust.require_root(action)
    planned = plan(params, nodes)
    recording = record(params, nodes, planned, repro)
    tools_mod.check(tools_mod.needed(recording.commands, recording.holds))
    ctx = context_mod.CheckContext(runner, params, nodes, planned,
                                   repro=repro)
    checked = []
    for node in nodes:
        checked.extend(node.check(ctx) or [])
    return params, nodes, planned, recording, checked


@contextlib.contextmanager
def _locked_build(params, shared=False):
    folder = state_mod.state_dir(params['build-dir'])
    with state_mod.locked(folder, shared=shared) as present:
        if not present:
            raise StateError('%s does not exist: run dib-block-device init '
                             'first' % folder)
        yield folder


def check(params, runner, repro=None):
    """``create --check``: the checks of create, writing nothing."""
    repro = repro or Repro.from_environ()
    with _locked_build(params):
        _, nodes, _, _, checked = _checked(params, runner,
                                           'create --check', repro)
    return ['%d nodes loaded, host tools present, sizes planned, '
            'preflight passed' % len(nodes)] + checked


def create(params, runner, repro=None):
    repro = repro or Repro.from_environ()
    with _locked_build(params) as folder:
        params, nodes, planned, recording, _ = _checked(
            params, runner, 'create', repro)
        old = state_mod.State.load(folder)
        if old is not None and old.journal:
            raise StateError('a previous create still holds resources (%d '
                             'journal entries): run dib-block-device '
                             'cleanup first' % len(old.journal))
        state = state_mod.State(folder)
        state.save()
        ctx = context_mod.RealContext(runner, state, params, nodes, planned,
                                      repro=repro)
        step = None
        try:
            # Every host-wide name first: a second build wanting one is
            # refused before anything is made.
            claims.sweep()
            for step, kind, name in recording.claims:
                ctx.claim(step, kind, name)
            for step in nodes:
                step.create(ctx)
        except BaseException as err:
            LOG.error('creating %s (%s) failed: %s', step.name, step.path,
                      err)
            teardown_mod.undo(teardown_mod.scope_of(
                runner, state_mod.load_build(params), folder), state)
            raise
        state.save()
    LOG.info('created %d nodes', len(nodes))


def write_fstab(params):
    with _locked_build(params) as folder:
        data = state_mod.load_build(params)
        state = state_mod.State.load(folder)
        if state is None:
            raise StateError('no state in %s: run create first' % folder)
        for filename, text, count in system_files(data['nodes'], state):
            # Into built/etc, which the image builder copies into the
            # image, and a 0600 copy beside the state.
            relative = 'built/etc/' + ('mdadm/' if filename == 'mdadm.conf'
                                       else '') + filename
            trust.write_file_below(data['params']['build-dir'], relative,
                                   text.encode())
            trust.write_file_below(folder, filename, text.encode(), 0o600)
            LOG.info('wrote %d lines to %s/%s', count,
                     data['params']['build-dir'], relative)
        for name in data['values'].get('verity', []):
            if 'roothash' not in state.results(name):
                LOG.info('verity %s: its hash tree and its veritytab line '
                         'are made at umount, once the data is final',
                         name)


def system_files(specs, state):
    """(file name, text, line count) of each file writefstab writes:
    the fstab always, the others when a node recorded a line for them."""
    for filename in node_mod.SYSTEM_FILES:
        lines = [state.results(spec['name'])[filename] for spec in specs
                 if state.results(spec['name']).get(filename)]
        if lines or filename == 'fstab':
            yield filename, ''.join(line + '\n' for line in lines), \
                len(lines)


def cleanup_from_system(params, runner, repro=None):
    """Release what a build holds when its state file cannot be trusted
    (see :func:`teardown.from_system`)."""
    from diskimage_builder.block_device import config as config_mod
    trust.require_root('cleanup --from-system')
    trust.check_params_folders(params)
    with state_mod.locked(state_mod.state_dir(params['build-dir'])):
        try:
            nodes = config_mod.build(config_mod.read_config(params), params)
            recording = record(params, nodes, plan(params, nodes),
                               repro or Repro.from_environ())
        except BlockDeviceError as err:
            LOG.warning('the config cannot be read (%s): releasing by '
                        'mount-base and image-dir alone', err)
            recording = None
        teardown_mod.from_system(params, runner, recording)
