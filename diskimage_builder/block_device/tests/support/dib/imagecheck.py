"""What an image built by ``disk-image-create`` with the dropin layer
must hold, per block-device element, and the checks that read it back.

The partition geometry is compared with what ``dib-block-device plan``
says for the element's own config at the same size; the rest (types,
names, flags, filesystems, fstab) with the hand-checked table below.
"""
import hashlib
import json
import os
import shutil

from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import harness

# The root filesystem's label when the builder passes an empty
# root-label (it does unless --root-label is given).
ROOT_FSTAB = 'LABEL=cloudimg-rootfs / ext4 defaults 0 1'

EXPECTED = {
    'block-device-mbr': {
        'label': 'dos',
        'partitions': [{'type': '83', 'bootable': True}],
        'filesystems': {1: ('ext4', 'cloudimg-rootfs')},
        'root': 1,
        'fstab': [ROOT_FSTAB],
    },
    'block-device-gpt': {
        'label': 'gpt',
        # flags: [boot] on the GPT root sets no attribute (sgdisk never
        # got one from diskimage-builder either).
        'partitions': [{'type': dibrun.GPT_TYPES['EF02'], 'name': 'BSP'},
                       {'type': dibrun.GPT_TYPES['8300'], 'name': 'root'}],
        'filesystems': {2: ('ext4', 'cloudimg-rootfs')},
        'root': 2,
        'fstab': [ROOT_FSTAB],
    },
    'block-device-efi': {
        'label': 'gpt',
        'partitions': [{'type': dibrun.GPT_TYPES['EF00'], 'name': 'ESP'},
                       {'type': dibrun.GPT_TYPES['EF02'], 'name': 'BSP'},
                       {'type': dibrun.GPT_TYPES['8300'], 'name': 'root'}],
        # The ESP's mkfs is unnamed: it is called mkfs_ESP, and vfat
        # labels are upper-cased.
        'filesystems': {1: ('vfat', 'MKFS_ESP'),
                        3: ('ext4', 'cloudimg-rootfs')},
        'root': 3,
        'fstab': [ROOT_FSTAB, 'LABEL=MKFS_ESP /boot/efi vfat defaults 0 2'],
    },
}

HOST_BUSYBOX = '/bin/busybox'


def element_config(venv, element):
    return os.path.join(venv.element(element), 'block-device-default.yaml')


def plan(venv, element, size):
    """The dropin's plan of the element's config at *size* bytes."""
    proc = harness.run([venv.bin('dib-block-device'), 'plan', '--format',
                        'json', '--config', element_config(venv, element),
                        '--size', str(size)],
                       cwd=os.path.dirname(venv.path),
                       env=dibrun.venv_environment())
    return json.loads(proc.stdout)


def expected_table(venv, element, size):
    """sfdisk's view of the table an image of *size* bytes must have."""
    want = EXPECTED[element]
    geometry = dibrun.planned_partitions(plan(venv, element, size))
    parts = [dict(extra, start=first, size=sectors)
             for (first, sectors), extra in zip(geometry,
                                                want['partitions'])]
    return {'label': want['label'], 'partitions': parts}


def sha256(path):
    with open(path, 'rb') as src:
        return hashlib.sha256(src.read()).hexdigest()


def fstab_lines(text):
    return [' '.join(line.split()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith('#')]


def check_filesystems(test, readback, element):
    for number, (fstype, label) in EXPECTED[element]['filesystems'].items():
        found = readback.blkid(readback.partition(number))
        test.assertEqual((fstype, label),
                         (found.get('TYPE'), found.get('LABEL')),
                         'partition %d' % number)


def check_root_tree(test, readback, element):
    """The root filesystem holds the element's tree and the fstab the
    layer wrote; *readback* has the image attached."""
    root = readback.mount(readback.partition(EXPECTED[element]['root']),
                          'ext4')
    test.assertEqual(EXPECTED[element]['fstab'],
                     fstab_lines(dibrun.read_file(root, 'etc/fstab')))
    test.assertEqual(sha256(HOST_BUSYBOX),
                     sha256(os.path.join(root, 'bin', 'busybox')))
    test.assertEqual('/bin/busybox', os.readlink(os.path.join(root, 'bin',
                                                              'sh')))
    test.assertIn('ID=dib-test-root\n',
                  dibrun.read_file(root, 'etc/os-release'))
    test.assertTrue(dibrun.read_file(root, 'etc/passwd').startswith(
        'root:x:0:0:'))
    return root


def check_built_image(test, build, element):
    """Everything a successful build must show: status 0, the dropin
    layer ran, nothing held, and the image reads back as expected."""
    test.assertTrue(os.path.exists(os.path.join(
        build.venv.package_dir, 'block_device', 'cli.py')),
        'the dropin venv does not hold this package')
    test.assertEqual([], held.leftovers(build.root))
    # The builder picks the size: --image-size, plus 525 MiB with
    # block-device-efi.
    size = os.path.getsize(build.image)
    test.assertEqual(expected_table(build.venv, element, size),
                     dibrun.partitions(build.image))
    readback = test.useFixture(harness.ReadBack(build.image))
    check_filesystems(test, readback, element)
    return check_root_tree(test, readback, element)


def require_tools(test, *tools):
    """disk-image-create's own needs: a missing one fails the test (the
    runner installs them), it is not a reason to skip."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        test.fail('missing host tools for disk-image-create: %s (Debian: '
                  'sudo, util-linux, busybox-static)' % ', '.join(missing))
