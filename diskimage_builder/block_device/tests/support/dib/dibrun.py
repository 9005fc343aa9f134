"""Run diskimage-builder's own ``disk-image-create`` from a venv, on the
test elements, and read the image it made back with independent tools.

Shared by the host and VM tests of the diskimage-builder tier.  What the
builder needs from the root element is described in
``elements/dib-test-root/README.rst``.
"""
import os
import shutil
import subprocess

import fixtures
from diskimage_builder.block_device.tests.support import harness


ELEMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'elements')
# The image the tests ask for (--image-size, in GiB).  Sparse, so cheap;
# with block-device-efi the builder adds 525 MiB for the ESP.
IMAGE_GIB = 1
# A busybox root builds in seconds on the host; the VM (TCG) is slower.
TIMEOUT = 1200

# GPT type GUIDs of the sgdisk codes the block-device-* elements use
# (sgdisk --list-types; UEFI spec appendix for EF00, GRUB for EF02).
GPT_TYPES = {
    'EF00': 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
    'EF02': '21686148-6449-6E6F-744E-656564454649',
    '8300': '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
}


def venv_environment():
    """The environment for a venv's commands: the test run's own
    PYTHONPATH (often the checkout) must not shadow what the venv has
    installed."""
    env = dict(os.environ)
    for name in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV'):
        env.pop(name, None)
    return env


class DiskImageCreate(fixtures.Fixture):
    """One ``disk-image-create -n -t raw`` run in a scratch folder.

    Everything the builder makes goes below ``self.root``: its TMP_DIR
    (build and image folders), its caches and the output, so anything
    left behind is attributable to this run.  *tmpfs* False passes
    ``--no-tmpfs`` (the builder otherwise mounts a tmpfs on its build
    folder when the machine has the RAM).
    """

    def __init__(self, venv, elements, tmpfs=False):
        self.venv = venv
        self.elements = list(elements)
        self.tmpfs = tmpfs

    def _setUp(self):
        scratch = os.environ.get('DIB_VM_SCRATCH') or None
        self.root = self.useFixture(fixtures.TempDir(rootdir=scratch)).path
        self.out = self._folder('out')
        self.log_path = os.path.join(self.root, 'disk-image-create.log')
        self.addCleanup(release_everything_below, self.root)

    def _folder(self, name):
        path = os.path.join(self.root, name)
        os.mkdir(path, 0o700)
        return path

    @property
    def image(self):
        return os.path.join(self.out, 'image.raw')

    def argv(self):
        argv = [self.venv.bin('disk-image-create'), '-n', '-t', 'raw',
                '-o', 'image', '--image-size', str(IMAGE_GIB)]
        if not self.tmpfs:
            argv.append('--no-tmpfs')
        return argv + self.elements

    def environment(self):
        env = dict(venv_environment(), ELEMENTS_PATH=ELEMENTS,
                   TMP_DIR=self._folder('tmp'),
                   # The VM sees $HOME (/root) read-only.
                   DIB_IMAGE_CACHE=self._folder('image-cache'),
                   DIB_LOCKFILES=self._folder('lockfiles'),
                   DIB_NO_TIMESTAMP='1')
        return env

    def run(self):
        """Run the builder from the output folder (never from a checkout
        root: its ``python -c 'import diskimage_builder.paths'`` would
        import the checkout).  Returns the exit status."""
        with open(self.log_path, 'w') as log:
            proc = subprocess.run(self.argv(), cwd=self.out,
                                  env=self.environment(), stdout=log,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        return proc.returncode

    def log(self, lines=60):
        with open(self.log_path, errors='replace') as src:
            return ''.join(src.readlines()[-lines:])


def mounts_below(root):
    """Mount points below *root*, deepest first."""
    lines = harness.run(['findmnt', '-rn', '-o', 'TARGET']).stdout.splitlines()
    found = [line for line in lines if line.startswith(root + '/')]
    return sorted(found, key=len, reverse=True)


def release_everything_below(root):
    """Last resort after a test: a failing build must not leave mounts
    or loop devices for the next one."""
    for target in mounts_below(root):
        harness.run(['umount', '-l', target], check=False)
    for line in harness.run(['losetup', '-ln', '-O', 'NAME,BACK-FILE'],
                            check=False).stdout.splitlines():
        name, _, backing = line.partition(' ')
        if backing.strip().startswith(root + '/'):
            # upstream's layer maps partitions with kpartx (VM only)
            if shutil.which('kpartx'):
                harness.run(['kpartx', '-d', name], check=False)
            harness.run(['losetup', '-d', name], check=False)


def partitions(image, sector_size=512):
    """The partition table of *image* as sfdisk reads it, without the
    random identifiers: label and, per partition, start, size, type and
    whichever of name, attrs and bootable are set.  sfdisk reads a file
    in 512-byte sectors, so other sector sizes are read through a
    read-only loop device of that sector size."""
    if sector_size == 512:
        table = harness.sfdisk_json(image)
    else:
        device = harness.run(['losetup', '--find', '--show', '--read-only',
                              '--sector-size', str(sector_size),
                              image]).stdout.strip()
        try:
            table = harness.sfdisk_json(device)
        finally:
            harness.run(['losetup', '-d', device], check=False)
    keep = ('start', 'size', 'type', 'name', 'attrs', 'bootable')
    return {'label': table['label'],
            'partitions': [{k: p[k] for k in keep if k in p}
                           for p in table.get('partitions', [])]}


def planned_partitions(plan):
    """[(start, size)] in sectors of the one partition table in a
    ``plan --format json`` answer."""
    tables = [n for n in plan['nodes'] if n['kind'] == 'table']
    assert len(tables) == 1, tables
    return [(p['first_lba'], p['size_lba'])
            for p in tables[0]['planned']['partitions']]


def read_file(root, relative):
    with open(os.path.join(root, relative), errors='replace') as src:
        return src.read()
