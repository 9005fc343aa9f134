"""diskimage-builder's own element configs, beside the checkout in
``../shared/compat``: test inputs.  A missing one fails the test that
needs it (never a skip: a tier that silently tests less is worse than a
red one)."""
import glob
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))
COMPAT = os.path.join(os.path.dirname(REPO), 'shared', 'compat')
# What the unit tests plan the compat configs with.
PARAMS = {'build-dir': '/b', 'image-dir': '/i', 'mount-base': '/m',
          'root-fs-type': 'ext4', 'root-label': 'cloudimg-rootfs'}


def compat_path(name):
    """The path of compat file *name*; AssertionError when it is not
    there."""
    path = os.path.join(COMPAT, name)
    if not os.path.exists(path):
        raise AssertionError('missing test input %s (diskimage-builder\'s '
                             'configs are expected in %s)' % (path, COMPAT))
    return path


def compat_text(name):
    with open(compat_path(name)) as src:
        return src.read()


def compat_configs():
    """Every compat config; AssertionError when there are none."""
    paths = sorted(glob.glob(os.path.join(COMPAT, '*.yaml')))
    if not paths:
        raise AssertionError('missing test inputs: no *.yaml in %s'
                             % COMPAT)
    return paths
