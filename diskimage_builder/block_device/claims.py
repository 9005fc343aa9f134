"""Host-wide claims on names that must be unique across parallel builds:
an image path, a disk, a VG, a LUKS mapping, an md array.

A claim is a file ``<kind>:<quoted name>`` in the claims folder holding
the state folder of the build that took it.  ``create`` takes every claim
of the config before anything else; a second build wanting one is refused
naming the holder.  A claim whose build is gone (its state folder no
longer journals it) is stale and taken over.  /run is a tmpfs: claims
vanish with a reboot, as do the devices.
"""
import contextlib
import json
import os
import urllib.parse

CLAIMS_DIR = '/run/dib-block-device/claims'
# Tests point this elsewhere so they never touch the host's /run.
CLAIMS_DIR_ENV = 'DIB_BD_CLAIMS_DIR'


class ClaimError(Exception):
    pass


def claims_dir():
    return os.environ.get(CLAIMS_DIR_ENV) or CLAIMS_DIR


def claim_path(kind, name):
    """The claim file of *kind* *name*: always inside the claims folder
    (the name is quoted, so no ``/`` or ``..`` survives)."""
    return os.path.join(claims_dir(), '%s:%s' % (
        kind, urllib.parse.quote(name, safe='')))


def take(kind, name, owner):
    """Take *name* for the build whose state folder is *owner*."""
    path = claim_path(kind, name)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            holder = holder_of(path)
            if holder == owner:
                return
            if holder and _owner_alive(holder, kind, name):
                raise ClaimError('%s %s is in use by the build whose state '
                                 'is %s' % (kind, name, holder))
            # The build that claimed it is gone (cleaned up, or its state
            # folder deleted by hand): the claim is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        with os.fdopen(fd, 'w') as out:
            out.write(owner)
        return


def holder_of(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd) as src:
        return src.read().strip()


def _owner_alive(owner, kind, name):
    try:
        with open(os.path.join(owner, 'state.json')) as src:
            journal = json.load(src).get('journal', [])
    except (OSError, ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get('kind') == 'claim' and
               isinstance(e.get('args'), dict) and
               e['args'].get('claim') == kind and
               e['args'].get('name') == name for e in journal)


def give_back(kind, name, owner):
    """Drop the claim if *owner* holds it; say whether it was held by
    someone else."""
    path = claim_path(kind, name)
    holder = holder_of(path)
    if holder == owner:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    return holder is None


def drop_all_of(owner):
    """Remove every claim held by the build whose state is *owner*."""
    folder = claims_dir()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if holder_of(path) == owner:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def sweep():
    """Remove the stale claims: those whose build is gone.  A build
    abandoned without ``cleanup`` (diskimage-builder's exit trap runs
    ``umount`` only, then deletes its build folder) leaves its claims
    behind; the next phase of any build clears them."""
    folder = claims_dir()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for entry in names:
        kind, _, quoted = entry.partition(':')
        path = os.path.join(folder, entry)
        holder = holder_of(path)
        if holder and not _owner_alive(holder, kind,
                                       urllib.parse.unquote(quoted)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
