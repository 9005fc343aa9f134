"""What the kernel holds of md arrays (sysfs), and their release: the
host side of the ``mdraid`` plugin."""
import contextlib
import os
import shutil

from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device import resources
from diskimage_builder.block_device.runner import CommandError

MD_ENV = {'MDADM_NO_UDEV': '1'}
MD_DIR = '/dev/md'
# Re-scans after a stop, for arrays a host udev re-assembled.
STOP_ROUNDS = 3


def md_link(host, name):
    """Where mdadm puts the array's link: /dev/md/<name>."""
    return os.path.join(host.dev_root, 'md', name)


def parse_export(text):
    return dict(line.split('=', 1) for line in text.splitlines()
                if '=' in line)


def arrays_over(host, members, uuid=None):
    """md devices (md127...) built on any of the kernel names *members*,
    active or only partly assembled; with *uuid*, only the array of that
    UUID where the kernel shows it (md/uuid)."""
    members = set(members)
    found = []
    for entry in host.listdir(os.path.join(host.sys_root, 'block')):
        if not entry.startswith('md'):
            continue
        shown = host.attr(entry, 'md', 'uuid')
        if uuid and shown and md_uuid_hex(shown) != md_uuid_hex(uuid):
            continue
        if set(host.slaves(entry)) & members:
            found.append(entry)
    return found


def md_uuid_hex(uuid):
    # mdadm writes 8:8:8:8 hex digits, the kernel a dashed UUID.
    return uuid.replace(':', '').replace('-', '').lower()


def running_arrays(host):
    """md devices the kernel runs (or holds inactive): any state but
    'clear', which a stopped array's left-over node shows."""
    return [entry for entry in host.listdir(os.path.join(host.sys_root,
                                                         'block'))
            if running_state(host, entry) not in (None, 'clear')]


def running_state(host, kname):
    return host.attr(kname, 'md', 'array_state')


SCAN_ARGV = ['mdadm', '--detail', '--scan', '--config=none']


def detail_argv(device):
    return ['mdadm', '--detail', '--export', device]


def scan_names(result):
    """Names of the arrays the host runs, as ``mdadm --detail --scan``
    (*result*, or None when it did not run) reports them."""
    out = result.stdout if result else ''
    names = set()
    for line in out.splitlines():
        for word in line.split():
            if word.startswith('name='):
                names.add(word[5:].rsplit(':', 1)[-1])
            elif word.startswith(MD_DIR + '/'):
                names.add(word[len(MD_DIR) + 1:])
    return names


def arrays_named(host, runner, name):
    """Running md devices whose array name is *name* (``cleanup
    --from-system``, which knows no members; the host-wide claim on the
    name keeps other builds' arrays out)."""
    found = []
    for kname in running_arrays(host):
        detail = parse_export(runner.run(
            detail_argv(os.path.join(host.dev_root, kname)),
            env=MD_ENV, check=False).stdout)
        if detail.get('MD_NAME', '').rsplit(':', 1)[-1] == name:
            found.append(kname)
    return found


def member_is_ours(scope, args, member):
    """Whether *member* (a kernel name) is still the device the journal
    says this build gave the array: by its identity (a loop partition by
    its image file and number), or, in a state of an older version, by
    its number."""
    members = args['members']
    if member not in members:
        return True
    index = members.index(member)
    path = os.path.join(scope.host.dev_root, member)
    if args.get('ids'):
        return scope.host.device_identity(path) == args['ids'][index]
    return scope.host.attr(member, 'dev') == (args.get('devnums') or
                                              [None] * len(members))[index]


def _ours(scope, args):
    if scope.from_system:
        return arrays_named(scope.host, scope.runner, args['name'])
    if not args.get('members'):
        raise resources.NotOurs('the md-array entry of %s carries no '
                                'members' % args['name'])
    found = arrays_over(scope.host, args['members'], args.get('uuid'))
    # Kernel names of members are reused once released: their device
    # numbers, recorded when they were this build's, must match too.
    for kname in found:
        for member in scope.host.slaves(kname):
            if not member_is_ours(scope, args, member):
                raise resources.NotOurs(
                    'md array %s stands on %s, which is no longer the '
                    'device this build gave it' % (kname, member))
    return found


@resources.releaser('md-array', tools=lambda args: ('mdadm',) + (
    ('udevadm',) if host_lib.HOST.udev_running() else ()), by_name=True)
def release_array(scope, args):
    # Found by member in sysfs: the process may have died between
    # mdadm --create and recording the array, and a host udev may have
    # re-assembled it under another md number.  The UUID, once recorded,
    # keeps a later array on reused loop devices safe.
    runner = scope.runner
    for _ in range(STOP_ROUNDS):
        found = _ours(scope, args)
        if not found:
            return
        for kname in found:
            stop(scope.host, runner, kname, args['name'])
        if scope.host.udev_running() and shutil.which('udevadm'):
            runner.run(['udevadm', 'settle', '--timeout=10'], check=False)
    found = _ours(scope, args)
    if found:
        raise resources.ReleaseError(
            'md array %s keeps coming back as %s (a udev rule re-assembles '
            'it?); stop it with mdadm --stop /dev/%s' % (
                args['name'], ', '.join(found), found[0]))


def stop(host, runner, kname, name):
    device = os.path.join(host.dev_root, kname)
    try:
        runner.run(['mdadm', '--stop', device], env=MD_ENV)
    except CommandError as err:
        if running_state(host, kname) in (None, 'clear'):
            return
        raise resources.ReleaseError('cannot stop md array %s (%s): %s' % (
            name, device, err.output.strip() or err))
    # mdadm made /dev/md/<name> (no udev) and leaves it behind pointing
    # at the stopped md node, which a later array may reuse.
    link = md_link(host, name)
    # Where a udev runs it may remove the link at any point in here (even
    # inside os.path.realpath, which does not expect that).
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(link) and os.path.basename(
                os.readlink(link)) == kname:
            os.unlink(link)
