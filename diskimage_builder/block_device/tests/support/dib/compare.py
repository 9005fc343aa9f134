"""Upstream's own block-device layer and this package, side by side.

Each layer is called as ``disk-image-create`` calls it, ``${DIB_PYTHON_EXEC}
${_LIB}/dib-block-device.py PHASE`` from its venv, with the params file the
builder writes, through the builder's sequence of phases.  What each one
made is then reduced to what must be equal (partition table without its
random ids, fstab with UUIDs masked, every getval answer, filesystems on
the partitions, what was left behind) and compared field by field.

A difference that is deliberate must be named in ``DEVIATIONS`` with its
reason; any other difference fails the test.
"""
import os
import re
import shlex
import subprocess
import time

import yaml

from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.tests.support.dib import dibrun
from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support import harness

# Field -> reason, for differences this package makes on purpose.
DEVIATIONS = {
    'device paths': "upstream maps partitions with kpartx "
                    "(/dev/mapper/loopNpM); this package uses the kernel's "
                    "own loop partitions (/dev/loopNpM)",
}
GETVAL_BEFORE_SIZE = ('root-label', 'root-fstype', 'boot-label',
                      'mount-points')
GETVAL_AFTER_CREATE = ('image-block-device', 'image-block-devices')
PHASE_TIMEOUT = 900
# Values this short are printed beside "same" in the table.
SHOWN = 100


def image_size_kib(config):
    """The builder's usual 2 GiB, or the fixed-size partitions plus 1 GiB
    when they need more (efi-lvm has a 40G partition)."""
    fixed = 0
    for entry in load(config):
        for part in entry.get('partitioning', {}).get('partitions', []):
            if not sizes.is_percent(part['size']):
                fixed += sizes.parse_size(part['size'])
    return max(2 << 30, fixed + (1 << 30)) // 1024


def sector_size(config):
    for entry in load(config):
        if 'local_loop' in entry:
            return int(entry['local_loop'].get('block_size', 512))
    return 512


def load(config):
    with open(config) as src:
        return yaml.safe_load(src)


class Lifecycle:
    """One layer driven through the builder's phases on one config, in
    its own folder below *root*."""

    def __init__(self, name, argv, config, root, dm_before=()):
        self.name = name
        self.dm_before = set(dm_before)
        self.argv = list(argv)
        self.config = config
        self.root = os.path.join(root, name)
        self.build_dir = os.path.join(self.root, 'build')
        self.params = os.path.join(self.build_dir, 'block-device',
                                   'params.yaml')
        self.seconds = 0.0

    def write_params(self):
        """As disk-image-create writes them (root-label empty: YAML null),
        in the folders it makes with mktemp (mode 0700)."""
        image_dir = os.path.join(self.root, 'image')
        for folder in (self.root, self.build_dir, image_dir):
            os.mkdir(folder, 0o700)
        os.makedirs(os.path.join(self.build_dir, 'built', 'etc'))
        os.makedirs(os.path.dirname(self.params))
        with open(self.params, 'w') as dst:
            dst.write('config: %s\nimage-dir: %s\nroot-fs-type: ext4\n'
                      'root-label: \nmount-base: %s/mnt\nbuild-dir: %s\n'
                      % (self.config, image_dir, self.build_dir,
                         self.build_dir))

    def phase(self, *args):
        env = dict(dibrun.venv_environment(),
                   DIB_BLOCK_DEVICE_PARAMS_YAML=self.params)
        started = time.monotonic()
        proc = subprocess.run(self.argv + list(args), env=env, cwd=self.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=PHASE_TIMEOUT)
        self.seconds += time.monotonic() - started
        if proc.returncode:
            raise AssertionError('%s layer, %s: %s exited %d\n%s%s' % (
                self.name, os.path.basename(self.config), ' '.join(args),
                proc.returncode, proc.stdout, proc.stderr[-4000:]))
        return proc.stdout.rstrip('\n')

    def run(self):
        """The phases, in the builder's order; returns the raw answers.
        On failure the builder's exit trap (umount) runs, then cleanup."""
        self.write_params()
        answers = {}
        try:
            self.phase('init')
            for key in GETVAL_BEFORE_SIZE:
                answers[key] = self.phase('getval', key)
            with open(self.params, 'a') as dst:
                dst.write('image-size: %dKiB\n'
                          % image_size_kib(self.config))
            self.phase('init')
            self.phase('create')
            for key in GETVAL_AFTER_CREATE:
                answers[key] = self.phase('getval', key)
            self.phase('writefstab')
            answers['fstab'] = dibrun.read_file(self.build_dir,
                                                'built/etc/fstab')
            answers['image-path'] = self.phase('getval', 'image-path')
            self.phase('umount')
            self.phase('cleanup')
        except BaseException:
            self.teardown()
            raise
        return answers

    def teardown(self):
        for phase in ('umount', 'cleanup'):
            try:
                self.phase(phase)
            except AssertionError:
                pass
        for _ in range(3):
            # LVs sit on partition mappings: a few passes take the stack
            # down from the top whatever order the names come in.
            for name in sorted(set(held.dm_names()) - self.dm_before):
                harness.run(['dmsetup', 'remove', name], check=False)
        dibrun.release_everything_below(self.root)


# -- what is compared --------------------------------------------------------

def fstab_entries(text):
    """fstab lines as field lists, UUID= values masked (random)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith('#'):
            continue
        if fields[0].startswith('UUID='):
            fields[0] = 'UUID=<random>'
        entries.append(' '.join(fields))
    return entries


def block_device_words(text):
    """``[name]=device`` words of getval image-block-devices, in order
    (upstream pads them with spaces, this package shell-quotes them)."""
    pairs = []
    for word in shlex.split(text):
        match = re.match(r'^\[(.+)\]=(.*)$', word)
        assert match, 'not a [name]=device word: %r' % word
        pairs.append((match.group(1), match.group(2)))
    return pairs


def device_role(device, loop):
    """What a device path is, with the numbering and mapping style
    taken out: the image's loop device, one of its partitions, or the
    path itself (LVM, crypt, md names are compared as they are)."""
    number = re.sub(r'^/dev/loop', '', loop)
    if device == loop:
        return 'the image loop device'
    match = re.match(r'^/dev/(?:mapper/)?loop%sp(\d+)$' % re.escape(number),
                     device)
    if match:
        return 'partition %s of the image loop device' % match.group(1)
    return device


def filesystems(image, block_size):
    """[(partition number, TYPE, LABEL)] as blkid probes them on a fresh
    read-only attachment of the image."""
    table = dibrun.partitions(image, block_size)
    found = []
    with harness.ReadBack(image, block_size) as readback:
        for number in range(1, len(table['partitions']) + 1):
            node = held.partition_node(readback.device, number)
            probe = subprocess.run(['blkid', '-p', '-o', 'export', node],
                                   stdout=subprocess.PIPE, text=True)
            info = dict(line.split('=', 1)
                        for line in probe.stdout.splitlines() if '=' in line)
            found.append((number, info.get('TYPE'), info.get('LABEL')))
    return found


def held_below(root, dm_before):
    """Loop devices and mounts below *root*, device-mapper devices that
    were not there before."""
    return held.leftovers(root) + sorted(set(held.dm_names()) -
                                         set(dm_before))


def observe(lifecycle, answers, dm_before):
    """Everything compared for one layer, as {field: value}."""
    image = answers['image-path']
    block_size = sector_size(lifecycle.config)
    loop = answers['image-block-device']
    facts = {key: answers[key] for key in GETVAL_BEFORE_SIZE}
    facts['image-path basename'] = os.path.basename(image)
    facts['image-block-device'] = device_role(loop, loop)
    words = block_device_words(answers['image-block-devices'])
    facts['image-block-devices keys'] = [name for name, _ in words]
    facts['image-block-devices roles'] = [
        (name, device_role(dev, loop)) for name, dev in words]
    facts['fstab'] = fstab_entries(answers['fstab'])
    facts['partition table'] = dibrun.partitions(image, block_size)
    facts['filesystems'] = filesystems(image, block_size)
    facts['left behind'] = held_below(lifecycle.root, dm_before)
    facts['raw device paths'] = [loop] + [dev for _, dev in words]
    return facts


def compare(upstream, ours):
    """[(field, verdict, upstream value, our value)]; verdict is 'same',
    'deviation: <name>' (listed in DEVIATIONS) or 'DIFFERENT'."""
    rows = []
    for field in upstream:
        theirs, mine = upstream[field], ours.get(field)
        if theirs == mine:
            verdict = 'same'
        elif field == 'raw device paths':
            verdict = 'deviation: device paths'
        else:
            verdict = 'DIFFERENT'
        rows.append((field, verdict, theirs, mine))
    return rows


def table(config, rows, seconds):
    """The printed summary of one config."""
    lines = ['%s (upstream %.0fs, this package %.0fs)'
             % (os.path.basename(config), seconds[0], seconds[1])]
    for field, verdict, theirs, mine in rows:
        shown = repr(theirs)
        lines.append('  %-27s %s%s' % (
            field, verdict, '  ' + shown if verdict == 'same' and
            len(shown) <= SHOWN else ''))
        if verdict.startswith('deviation: '):
            lines.append('      why: %s' % DEVIATIONS[verdict[11:]])
        if verdict != 'same':
            lines.append('      upstream: %r' % (theirs,))
            lines.append('      ours:     %r' % (mine,))
    return '\n'.join(lines)
