"""The phase driver: one function per subcommand.

``create`` checks everything it can before the first side effect (host
tools, sizes, offsets), then creates node after node in graph order; each
node journals a resource before acquiring it.  If a node fails, the whole
journal is released in reverse and the first error is what is reported.
``umount``, ``cleanup`` and ``delete`` release the journal in reverse,
each up to its own depth, and are no-ops once nothing is held.
"""
import contextlib
import logging
import os
import shutil

from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import claims
from diskimage_builder.block_device import trust
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import StateError
from diskimage_builder.block_device.errors import UsageError

LOG = logging.getLogger(__name__)

# Which journal entries each teardown phase gives back.
RELEASED_BY = {
    'umount': ('umount',),
    'cleanup': ('umount', 'cleanup'),
    'delete': ('umount', 'cleanup', 'delete'),
}


class TeardownError(BlockDeviceError):
    exit_status = 1


class PlanContext:
    """What ``plan`` steps share: params and each node's planned facts."""

    def __init__(self, params, nodes):
        self.params = params
        self.nodes = {node.name: node for node in nodes}
        self.planned = {}

    def of(self, name):
        return self.planned.setdefault(name, {})

    @staticmethod
    def device(name):
        """What create's ``ctx.device(name)`` will be: a placeholder."""
        return plugin_mod.placeholder(name)


class Context:
    """What ``create`` steps get: the runner, the host, the plan, the
    state."""

    def __init__(self, runner, state, params, nodes, planned, host=None):
        self.runner = runner
        self.host = host or host_lib.HOST
        self.state = state
        self.params = params
        self.nodes = {node.name: node for node in nodes}
        self.planned = planned

    def hold(self, node, kind, released_by='umount', **identity):
        """Journal a resource about to be acquired, with what identifies
        it; saved before returning."""
        return self.state.hold(node.name, node.plugin, kind, released_by,
                               **identity)

    def update(self, entry, **identity):
        """Add to an entry what identifies its resource once acquired."""
        self.state.update(entry, **identity)

    def record(self, node, **values):
        self.state.record(node.name, **values)

    def claim(self, node, kind, name):
        """Take a host-wide name for this build (journaled first)."""
        owner = os.path.realpath(self.state.folder)
        # Held until cleanup: between umount and cleanup the builder still
        # converts the image.
        self.hold(node, 'claim', released_by='cleanup', claim=kind,
                  name=name, owner=owner)
        try:
            claims.take(kind, name, owner)
        except claims.ClaimError as err:
            raise UsageError(str(err))

    def results(self, name):
        return self.state.results(name)

    def device(self, name):
        device = self.results(name).get('device')
        if not device:
            raise BlockDeviceError('node %s provides no block device' % name)
        return device


def scope_of(runner, data, folder, from_system=False):
    """What releases of the build of config.json *data* may touch."""
    params = data['params']
    return resources.Scope(
        runner=runner,
        image_paths=frozenset(spec['facts']['image_path']
                              for spec in data['nodes']
                              if spec.get('facts', {}).get('image_path')),
        mount_base=params.get('mount-base'),
        image_dir=params.get('image-dir'),
        owner=os.path.realpath(folder), from_system=from_system)


def state_folder(params):
    return state_mod.state_dir(params['build-dir'])


def init(params):
    from diskimage_builder.block_device import config as config_mod
    trust.check_params_folders(params)
    nodes, classes = config_mod.build_with_plugins(
        config_mod.read_config(params), params)
    plan(params, nodes, sizes_known_only=True)
    folder = state_folder(params)
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


def load_config(params):
    """config.json of the build, its params checked as at init."""
    data = state_mod.load_config(state_folder(params))
    trust.check_params_folders(data['params'])
    return data


def plan_view(params, fmt):
    """``plan``: every node and its planned sizes, touching nothing."""
    from diskimage_builder.block_device import config as config_mod
    from diskimage_builder.block_device import planview
    nodes = config_mod.build(config_mod.read_config(params), params)
    planned = plan(params, nodes)
    return planview.render(planview.build_plan(
        params, nodes, planned, planned_commands(params, nodes, planned)),
        fmt)


def planned_commands(params, nodes, planned):
    """Every command create will run, in order: the preflight reads of
    all nodes, then each node's own commands."""
    pctx = PlanContext(params, nodes)
    pctx.planned = planned
    out = []
    for phase, method in (('preflight', 'preflight_commands'),
                          ('create', 'commands')):
        for node in nodes:
            for entry in getattr(node, method)(pctx):
                out.append(dict(entry, node=node.name, phase=phase))
    return out


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
    """Run every node's pure planning step; return the planned facts.

    At init the image size may not be known yet (the builder passes it on
    its second init): then the size-dependent checks wait for ``create``.
    """
    pctx = PlanContext(params, nodes)
    pctx.sizes_known_only = sizes_known_only
    for node in nodes:
        node.plan(pctx)
    return pctx.planned


def check_tools(params, nodes):
    missing = {}
    for node in nodes:
        for tool, package in node.tools(params).items():
            if shutil.which(tool) is None:
                missing[tool] = package
    if missing:
        raise UsageError('missing host tools: %s' % ', '.join(
            '%s (install package %s)' % item for item in sorted(
                missing.items())))


def require_root(action):
    if os.geteuid() != 0:
        raise UsageError('%s needs root: run it as root (this tool never '
                         'calls sudo itself)' % action)


def _checked(params, runner, action):
    """Everything create checks before its first side effect: params,
    nodes, the plan and what each node's preflight said it checked.
    Called with the lock held."""
    data = load_config(params)
    params = data['params']
    nodes = load_nodes(data)
    require_root(action)
    check_tools(params, nodes)
    planned = plan(params, nodes)
    checked = []
    for node in nodes:
        checked.extend(node.preflight(runner, params) or [])
    return params, nodes, planned, checked


@contextlib.contextmanager
def _locked_build(params, shared=False):
    folder = state_folder(params)
    with state_mod.locked(folder, shared=shared) as present:
        if not present:
            raise StateError('%s does not exist: run dib-block-device init '
                             'first' % folder)
        yield folder


def check(params, runner):
    """``create --check``: the checks of create, writing nothing."""
    with _locked_build(params):
        params, nodes, planned, checked = _checked(params, runner,
                                                   'create --check')
    return ['%d nodes loaded, host tools present, sizes planned, '
            'preflight passed' % len(nodes)] + checked


def create(params, runner):
    with _locked_build(params) as folder:
        params, nodes, planned, _ = _checked(params, runner, 'create')
        old = state_mod.State.load(folder)
        if old is not None and old.journal:
            raise StateError('a previous create still holds resources (%d '
                             'journal entries): run dib-block-device '
                             'cleanup first' % len(old.journal))
        state = state_mod.State(folder)
        state.save()
        ctx = Context(runner, state, params, nodes, planned)
        step = None
        try:
            for node in nodes:
                step = node
                for kind, name in node.claims():
                    ctx.claim(node, kind, name)
            for node in nodes:
                step = node
                node.create(ctx)
        except BaseException as err:
            LOG.error('creating %s (%s) failed: %s', step.name, step.path,
                      err)
            _undo_after_failure(scope_of(runner, load_config(params),
                                         folder), state)
            raise
    LOG.info('created %d nodes', len(nodes))


def _undo_after_failure(scope, state):
    LOG.info('undoing everything create did, in reverse order')
    for failure in release_journal(scope, state, RELEASED_BY['delete']):
        LOG.error('undo: %s', failure)


def release_journal(scope, state, kinds, plugins=None):
    """Release journal entries released by *kinds*, newest first.

    Every entry is tried even when an earlier one fails; the failures are
    returned together.  Released entries leave the journal at once; so do
    entries whose resource is not this build's (left alone, reported).
    """
    failures = []
    for entry in reversed(list(state.journal)):
        if entry['released_by'] not in kinds:
            continue
        if entry['kind'] not in resources.RELEASERS:
            # A plugin's own kinds are registered when its module loads.
            plugin_mod.load_recorded([entry['plugin']], plugins)
        try:
            resources.release(scope, entry)
        except resources.NotOurs as err:
            failures.append('%s of node %s left alone: %s'
                            % (entry['kind'], entry['node'], err))
        except Exception as err:
            failures.append('%s of node %s: %s' % (entry['kind'],
                                                   entry['node'], err))
            continue
        state.drop(entry)
    if state.unsaved is not None:
        state.save_if_possible()
    if state.unsaved is not None:
        failures.append('%s: released resources the state file still lists; '
                        'run cleanup again once it can be written (releasing '
                        'them again is safe)' % state.unsaved)
    return failures


def teardown(params, runner, phase):
    folder = state_folder(params)
    with state_mod.locked(folder) as present:
        if not present:
            LOG.info('%s: no state folder %s, nothing to do', phase, folder)
            return
        state = state_mod.State.load(folder)
        failures = []
        if state is not None and state.journal:
            require_root(phase)
            data = load_config(params)
            failures = release_journal(scope_of(runner, data, folder), state,
                                       RELEASED_BY[phase],
                                       data.get('plugins'))
        if failures:
            raise TeardownError('%s left %d resource(s) held:\n  %s' % (
                phase, len(failures), '\n  '.join(failures)))
        if phase in ('cleanup', 'delete'):
            shutil.rmtree(folder)
            LOG.info('%s: removed %s', phase, folder)


# What writefstab writes: the file below built/etc, and the node result
# key holding each node's line.  Plugins add their lines by recording
# these keys (fstab for filesystems, crypttab for LUKS, mdadm.conf for md).
SYSTEM_FILES = ('fstab', 'crypttab', 'mdadm.conf')


def write_fstab(params):
    with _locked_build(params) as folder:
        data = load_config(params)
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


def system_files(specs, state):
    """(file name, text, line count) of each file writefstab writes:
    the fstab always, the others when a node recorded a line for them."""
    for filename in SYSTEM_FILES:
        lines = [state.results(spec['name'])[filename] for spec in specs
                 if state.results(spec['name']).get(filename)]
        if lines or filename == 'fstab':
            yield filename, ''.join(line + '\n' for line in lines), \
                len(lines)


def cleanup_from_system(params, runner):
    """Release what a build holds when its state file cannot be trusted.

    What is released is found on the system: mounts below ``mount-base``,
    then each node's own resources (mappings, arrays, VGs, loop devices of
    its images) in reverse creation order, then loop devices backed by
    files under ``image-dir`` when the config itself is unreadable.
    """
    require_root('cleanup --from-system')
    trust.check_params_folders(params)
    with state_mod.locked(state_folder(params)):
        _cleanup_from_system(params, runner)


def _cleanup_from_system(params, runner):
    folder = state_folder(params)
    entries = []
    mount_base = params.get('mount-base')
    if mount_base and os.path.isdir(mount_base):
        for target in sorted(host_lib.HOST.mounts_below(mount_base),
                             reverse=True):
            entries.append(('mount', {'target': target}, 'mount'))
    try:
        from diskimage_builder.block_device import config as config_mod
        nodes = config_mod.build(config_mod.read_config(params), params)
    except BlockDeviceError as err:
        LOG.warning('the config cannot be read (%s): releasing by '
                    'mount-base and image-dir alone', err)
        nodes = None
    for node in reversed(nodes or []):
        for kind, args in node.held_resources(params):
            entries.append((kind, args, node.plugin))
    images = {n.facts['image_path'] for n in nodes or []
              if n.facts.get('image_path')}
    if nodes is None and params.get('image-dir'):
        for loop in host_lib.HOST.loops_below(params['image-dir']):
            images.add(loop.backing)
            entries.append(('loop', {'file': loop.backing}, 'local_loop'))
    scope = resources.Scope(
        runner=runner, image_paths=frozenset(images), mount_base=mount_base,
        image_dir=params.get('image-dir'), owner=os.path.realpath(folder),
        from_system=True)
    failures = []
    for kind, args, plugin in entries:
        entry = {'kind': kind, 'args': args, 'node': '(system)',
                 'plugin': plugin}
        if kind not in resources.RELEASERS:
            plugin_mod.load(plugin)
        try:
            resources.release(scope, entry)
        except Exception as err:
            failures.append('%s %s: %s' % (kind, args, err))
    claims.drop_all_of(os.path.realpath(folder))
    if failures:
        raise TeardownError('cleanup --from-system left %d resource(s) '
                            'held:\n  %s' % (len(failures),
                                             '\n  '.join(failures)))
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    LOG.info('cleanup --from-system: released %d resource(s) found on the '
             'system', len(entries))
