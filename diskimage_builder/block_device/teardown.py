"""Releasing what a build holds: ``umount``, ``cleanup``, ``delete``,
create's undo, and ``cleanup --from-system``.

The journal is released in reverse, each phase up to its own depth
(:data:`RELEASED_BY`); every entry is tried even when an earlier one
fails, and the failures are reported together.  Each release checks that
what it finds is what the build acquired (:mod:`resources`).
"""
import dataclasses
import logging
import os
import shutil

from diskimage_builder.block_device import claims
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import BlockDeviceError

LOG = logging.getLogger(__name__)

# Which journal entries each teardown phase gives back.
RELEASED_BY = {
    'umount': ('umount',),
    'cleanup': ('umount', 'cleanup'),
    'delete': ('umount', 'cleanup', 'delete'),
}


class TeardownError(BlockDeviceError):
    exit_status = 1


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


def undo(scope, state):
    """Release everything a failed create holds."""
    LOG.info('undoing everything create did, in reverse order')
    scope = dataclasses.replace(scope, discard=True)
    for failure in release_journal(scope, state, RELEASED_BY['delete']):
        LOG.error('undo: %s', failure)


def release_journal(scope, state, kinds, plugins=None):
    """Release journal entries released by *kinds*, newest first.

    Every entry is tried even when an earlier one fails; the failures are
    returned together.  Released entries leave the journal at once (what
    a release found is recorded among its node's results in the same
    save); so do entries whose resource is not this build's (left alone,
    reported).
    """
    failures = []
    for entry in reversed(list(state.journal)):
        if entry['released_by'] not in kinds:
            continue
        if entry['kind'] not in resources.RELEASERS:
            # A plugin's own kinds are registered when its module loads.
            plugin_mod.load_recorded([entry['plugin']], plugins)
        found = None
        try:
            found = resources.release(scope, entry)
        except resources.NotOurs as err:
            failures.append('%s of node %s left alone: %s'
                            % (entry['kind'], entry['node'], err))
        except Exception as err:
            failures.append('%s of node %s: %s' % (entry['kind'],
                                                   entry['node'], err))
            continue
        if found:
            state.record(entry['node'], **found)
        state.drop(entry)
    if state.unsaved is not None:
        state.save_if_possible()
    if state.unsaved is not None:
        failures.append('%s: released resources the state file still lists; '
                        'run cleanup again once it can be written (releasing '
                        'them again is safe)' % state.unsaved)
    return failures


def teardown(params, runner, phase):
    """``umount``, ``cleanup`` or ``delete``."""
    folder = state_mod.state_dir(params['build-dir'])
    with state_mod.locked(folder) as present:
        if not present:
            LOG.info('%s: no state folder %s, nothing to do', phase, folder)
            return
        state = state_mod.State.load(folder)
        failures = []
        if state is not None and state.journal:
            trust.require_root(phase)
            claims.sweep()
            data = state_mod.load_build(params)
            scope = dataclasses.replace(scope_of(runner, data, folder),
                                        discard=phase == 'delete')
            failures = release_journal(scope, state, RELEASED_BY[phase],
                                       data.get('plugins'))
        if failures:
            raise TeardownError('%s left %d resource(s) held:\n  %s' % (
                phase, len(failures), '\n  '.join(failures)))
        if phase in ('cleanup', 'delete'):
            shutil.rmtree(folder)
            LOG.info('%s: removed %s', phase, folder)


def from_system(params, runner, recording):
    """``cleanup --from-system``: release what the build holds as found
    on the system, the state being lost or damaged: mounts below
    ``mount-base``, then what a recorded create of the config would hold
    (*recording*, None when the config cannot be read), newest first,
    found by name; loop devices of files below ``image-dir`` when the
    config cannot be read."""
    host = host_lib.HOST
    folder = state_mod.state_dir(params['build-dir'])
    mount_base = params.get('mount-base')
    entries = []
    if mount_base and os.path.isdir(mount_base):
        entries += [('mount', {'target': target}, 'mount')
                    for target in sorted(host.mounts_below(mount_base),
                                         reverse=True)]
    images = set()
    for entry in reversed(recording.holds if recording else []):
        # Mounts are found below mount-base above; image files stay.
        if entry['kind'] in resources.BY_NAME and entry['kind'] != 'mount':
            entries.append((entry['kind'], entry['args'], entry['plugin']))
        if entry['kind'] == 'image-file':
            images.add(entry['args']['path'])
    if recording is None and params.get('image-dir'):
        for loop in host.loops_below(params['image-dir']):
            images.add(loop.backing)
            entries.append(('loop', {'file': loop.backing}, 'local_loop'))
    scope = resources.Scope(
        runner=runner, image_paths=frozenset(images), mount_base=mount_base,
        image_dir=params.get('image-dir'), owner=os.path.realpath(folder),
        from_system=True)
    failures = _release_found(scope, entries)
    claims.drop_all_of(os.path.realpath(folder))
    if failures:
        raise TeardownError('cleanup --from-system left %d resource(s) '
                            'held:\n  %s' % (len(failures),
                                             '\n  '.join(failures)))
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    LOG.info('cleanup --from-system: released %d resource(s) found on the '
             'system', len(entries))


def _release_found(scope, entries):
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
    return failures
