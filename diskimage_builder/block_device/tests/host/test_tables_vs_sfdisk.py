"""Our partition tables against util-linux's, byte for byte.

Each test writes our tables into a sparse image file, checks that
sfdisk reads back exactly our partitions and finds no errors, then has
util-linux build the same layout from a script into a second image and
compares every region either tool wrote.  No root and no loop devices
are needed.  sfdisk cannot be told the sector size of a plain file, so
the 4096-byte-sector cases drive fdisk (same package, same libfdisk) with
``-b 4096`` and its script commands instead; without it they fail.
"""
import hashlib
import json
import os
import re
import subprocess
import uuid

import fixtures
import testtools

from diskimage_builder.block_device.disklabel import tables
from diskimage_builder.block_device.disklabel.tables import GptEntry
from diskimage_builder.block_device.disklabel.tables import MbrEntry
from diskimage_builder.block_device.tests.support import golden
from diskimage_builder.block_device.tests.support.hosttools import \
    find_tool

GIB = 1024 ** 3
# Beyond this, comparing whole data extents would mean reading a
# filesystem that does not report holes: fall back to our regions only.
_MAX_EXTENT_BYTES = 64 * 1024 ** 2
_ATTR_NAMES = {0: 'RequiredPartition', 1: 'NoBlockIOProtocol',
               2: 'LegacyBIOSBootable'}


def sfdisk_attrs(bits):
    """The attrs string sfdisk reads and prints for a GPT attribute mask."""
    words = [_ATTR_NAMES[bit] for bit in sorted(_ATTR_NAMES)
             if bits >> bit & 1]
    guid_bits = [str(bit) for bit in range(48, 64) if bits >> bit & 1]
    if guid_bits:
        words.append('GUID:' + ','.join(guid_bits))
    unsupported = bits & ~(0b111 | 0xFFFF << 48)
    assert not unsupported, 'sfdisk cannot express bits %#x' % unsupported
    return ' '.join(words)


def gpt_script(disk_guid, geometry, entries):
    lines = ['label: gpt', 'label-id: %s' % str(disk_guid).upper(),
             'first-lba: %d' % geometry.first_usable_lba,
             'sector-size: %d' % geometry.sector_size]
    for entry in sorted(entries, key=lambda e: e.number):
        fields = ['start=%d' % entry.first_lba,
                  'size=%d' % (entry.last_lba - entry.first_lba + 1),
                  'type=%s' % str(entry.type_guid).upper(),
                  'uuid=%s' % str(entry.part_guid).upper()]
        if entry.name:
            fields.append('name="%s"' % entry.name)
        if entry.attributes:
            fields.append('attrs="%s"' % sfdisk_attrs(entry.attributes))
        lines.append(', '.join(fields))
    return '\n'.join(lines) + '\n'


def mbr_layout(entries):
    """Rows (number, start, size, type, bootable) incl. the extended one.

    sfdisk numbers script lines in order, so this also checks that the
    layout has the shape a plain script can express.
    """
    primaries = sorted((e for e in entries if e.number <= 4),
                       key=lambda e: e.number)
    logicals = sorted((e for e in entries if e.number > 4),
                      key=lambda e: e.number)
    rows = [(e.number, e.first_lba, e.size_lba, e.type_byte, e.bootable)
            for e in primaries]
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    if logicals:
        first, last = logicals[0].ebr_lba, logicals[-1].last_lba
        rows.append((len(rows) + 1, first, last - first + 1, 0x05, False))
    rows += [(e.number, e.first_lba, e.size_lba, e.type_byte, e.bootable)
             for e in logicals]
    return rows


def mbr_script(disk_id, sector_size, entries):
    lines = ['label: dos', 'label-id: 0x%08x' % disk_id,
             'sector-size: %d' % sector_size]
    for _, start, size, type_byte, bootable in mbr_layout(entries):
        line = 'start=%d, size=%d, type=%x' % (start, size, type_byte)
        lines.append(line + (', bootable' if bootable else ''))
    return '\n'.join(lines) + '\n'


def unescape(value):
    """Undo the \\xNN escapes a dump uses for non-ASCII bytes in C locale."""
    raw = re.sub(rb'\\x([0-9a-fA-F]{2})',
                 lambda match: bytes.fromhex(match.group(1).decode()),
                 value.encode('utf-8'))
    return raw.decode('utf-8')


def parse_dump(text, image):
    """An sfdisk dump (fdisk's O command) as (headers, {number: fields})."""
    headers, partitions = {}, {}
    for line in text.splitlines():
        if line.startswith(image):
            node, _, rest = line.partition(' : ')
            fields = {}
            for item in rest.split(', '):
                key, _, value = item.strip().partition('=')
                fields[key] = (unescape(value.strip().strip('"')) if value
                               else True)
            partitions[int(node[len(image):].lstrip('p'))] = fields
        elif ': ' in line:
            key, _, value = line.partition(': ')
            headers[key] = value
    return headers, partitions


def data_extents(path):
    """(start, end) byte ranges holding data, per SEEK_DATA/SEEK_HOLE."""
    extents = []
    with open(path, 'rb') as image:
        fd, size, offset = image.fileno(), os.fstat(image.fileno()).st_size, 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after offset
                break
            offset = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, offset))
    return extents


class TablesVsUtilLinux(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sfdisk = find_tool('sfdisk')
        if self.sfdisk is None:
            self.fail('sfdisk (util-linux) is not installed: not in '
                      'PATH, /usr/sbin or /sbin')
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def need_fdisk(self):
        fdisk = find_tool('fdisk')
        if fdisk is None:
            self.fail('fdisk (util-linux) is not installed; sfdisk '
                      'alone cannot use 4096-byte sectors on a file')
        return fdisk

    def image(self, name, size_bytes):
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as image:
            try:
                image.truncate(size_bytes)
            except OSError as error:  # EFBIG on small-block filesystems
                self.fail('cannot make a %d-byte sparse file in %s: %s'
                          % (size_bytes, self.tmp, error))
        return path

    def ours(self, size_bytes, writes):
        path = self.image('ours.img', size_bytes)
        with open(path, 'r+b') as image:
            for offset, data in writes:
                os.pwrite(image.fileno(), data, offset)
        return path

    def run_tool(self, argv, stdin=''):
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True,
            env=dict(os.environ, LC_ALL='C', LANG='C'), check=False)
        self.assertEqual(0, result.returncode,
                         '%s failed:\n%s%s' % (argv, result.stdout,
                                               result.stderr))
        return result

    def sfdisk_json(self, path):
        result = self.run_tool([self.sfdisk, '--json', path])
        self.assertEqual('', result.stderr)
        table = json.loads(result.stdout)['partitiontable']
        parts = {int(p.pop('node')[len(path):].lstrip('p')): p
                 for p in table.pop('partitions')}
        return table, parts

    def sfdisk_verify(self, path):
        result = self.run_tool([self.sfdisk, '--verify', path])
        self.assertIn('No errors detected', result.stdout)
        self.assertEqual('', result.stderr)

    def sfdisk_make(self, size_bytes, script):
        path = self.image('sfdisk.img', size_bytes)
        self.run_tool([self.sfdisk, '--no-reread', '--no-tell-kernel',
                       path], stdin=script)
        return path

    def fdisk(self, path, sector_size, commands):
        return self.run_tool([self.need_fdisk(), '-b', str(sector_size),
                              path], stdin='\n'.join(commands) + '\n')

    def fdisk_make(self, size_bytes, sector_size, script):
        path = self.image('fdisk.img', size_bytes)
        script_path = os.path.join(self.tmp, 'layout.sfdisk')
        with open(script_path, 'w') as out:
            out.write(script)
        self.fdisk(path, sector_size, ['I', script_path, 'w'])
        return path

    def fdisk_read(self, path, sector_size):
        """The dump and the verify report fdisk gives of ``path``."""
        dump_path = os.path.join(self.tmp, 'dump.sfdisk')
        result = self.fdisk(path, sector_size, ['v', 'O', dump_path, 'q'])
        with open(dump_path) as dump:
            text = dump.read()
        os.unlink(dump_path)
        self.assertIn('No errors detected', result.stdout)
        return parse_dump(text, path)

    def assert_same_bytes(self, ours, theirs, writes):
        with open(ours, 'rb') as mine, open(theirs, 'rb') as other:
            for offset, data in writes:
                self.assertEqual(data.hex(), os.pread(
                    other.fileno(), len(data), offset).hex(),
                    'region at byte %d differs' % offset)
            extents = data_extents(theirs)
            if sum(end - start for start, end in extents) > \
                    _MAX_EXTENT_BYTES:
                return
            for start, end in extents:
                self.assertEqual(
                    os.pread(other.fileno(), end - start, start),
                    os.pread(mine.fileno(), end - start, start),
                    'bytes %d-%d written by util-linux differ'
                    % (start, end))

    def digest_of(self, path, writes):
        with open(path, 'rb') as image:
            return hashlib.sha256(b''.join(
                os.pread(image.fileno(), len(data), offset)
                for offset, data in writes)).hexdigest()


class TestGpt(TablesVsUtilLinux):

    def expected_parts(self, entries):
        parts = {}
        for entry in entries:
            part = {'start': entry.first_lba,
                    'size': entry.last_lba - entry.first_lba + 1,
                    'type': str(entry.type_guid).upper(),
                    'uuid': str(entry.part_guid).upper()}
            if entry.name:
                part['name'] = entry.name
            if entry.attributes:
                part['attrs'] = sfdisk_attrs(entry.attributes)
            parts[entry.number] = part
        return parts

    def test_512_golden(self):
        disk_sectors, sector_size, entries, disk_guid = golden.golden_gpt()
        writes = tables.build_gpt(disk_sectors, sector_size, entries,
                                  disk_guid)
        size = disk_sectors * sector_size
        ours = self.ours(size, writes)
        geometry = tables.gpt_layout(disk_sectors, sector_size)

        table, parts = self.sfdisk_json(ours)
        self.assertEqual(('gpt', str(disk_guid).upper(), 34,
                          disk_sectors - 34, 512),
                         (table['label'], table['id'], table['firstlba'],
                          table['lastlba'], table['sectorsize']))
        self.assertEqual(self.expected_parts(entries), parts)
        self.sfdisk_verify(ours)

        theirs = self.sfdisk_make(size,
                                  gpt_script(disk_guid, geometry, entries))
        self.assert_same_bytes(ours, theirs, writes)
        self.assertEqual(golden.GOLDEN_GPT_SHA256,
                         self.digest_of(theirs, writes))

    def test_4096(self):
        self.need_fdisk()
        disk_sectors, disk_guid = 16384, uuid.UUID(int=0x5EED)
        entries = [
            GptEntry(1, 256, 2815, tables.gpt_type_guid('EF00'),
                     uuid.UUID(int=1), 'EFI System'),
            GptEntry(2, 2816, 11007, tables.gpt_type_guid('8304'),
                     uuid.UUID(int=2), 'rööt',
                     tables.GPT_ATTR_LEGACY_BIOS_BOOTABLE | 1 << 60),
            GptEntry(3, 11008, 16378, tables.gpt_type_guid('8e00'),
                     uuid.UUID(int=3), 'x' * 36, 1),
        ]
        writes = tables.build_gpt(disk_sectors, 4096, entries, disk_guid)
        size = disk_sectors * 4096
        ours = self.ours(size, writes)

        headers, parts = self.fdisk_read(ours, 4096)
        self.assertEqual(('gpt', str(disk_guid).upper(), '6', '16378',
                          '4096'),
                         (headers['label'], headers['label-id'],
                          headers['first-lba'], headers['last-lba'],
                          headers['sector-size']))
        expected = self.expected_parts(entries)
        for part in expected.values():
            part['start'], part['size'] = (str(part['start']),
                                           str(part['size']))
        self.assertEqual(expected, parts)

        geometry = tables.gpt_layout(disk_sectors, 4096)
        theirs = self.fdisk_make(size, 4096,
                                 gpt_script(disk_guid, geometry, entries))
        self.assert_same_bytes(ours, theirs, writes)

    def test_type_codes_known_to_sfdisk(self):
        listed = self.run_tool([self.sfdisk, '--list-types', '--label',
                                'gpt']).stdout.upper()
        for code in ('EF00', 'EF01', 'EF02', '8300', '8200', '8E00', 'FD00',
                     '4100', '8302', '8304', '0700', 'A504', 'EA00'):
            self.assertIn(str(tables.gpt_type_guid(code)).upper(), listed,
                          code)


class TestMbr(TablesVsUtilLinux):

    def check_sfdisk_reads(self, path, disk_id, entries):
        table, parts = self.sfdisk_json(path)
        self.assertEqual(('dos', '0x%08x' % disk_id),
                         (table['label'], table['id']))
        seen = sorted((number, part['start'], part['size'],
                       int(part['type'], 16), part.get('bootable', False))
                      for number, part in parts.items())
        self.assertEqual(mbr_layout(entries), seen)
        self.sfdisk_verify(path)

    def check_against_sfdisk(self, disk_sectors, entries, disk_id):
        writes = tables.build_mbr(disk_sectors, 512, entries, disk_id)
        size = disk_sectors * 512
        ours = self.ours(size, writes)
        self.check_sfdisk_reads(ours, disk_id, entries)
        theirs = self.sfdisk_make(size, mbr_script(disk_id, 512, entries))
        self.assert_same_bytes(ours, theirs, writes)
        return theirs, writes

    def test_primaries(self):
        # 20 GiB: partition 2 crosses cylinder 1023, 3 and 4 lie past it.
        entries = [MbrEntry(1, 2048, 1048576, 0x83, bootable=True),
                   MbrEntry(2, 1050624, 16000000, 0x8e),
                   MbrEntry(3, 17051648, 4194304, 0x82),
                   MbrEntry(4, 21245952, 20697088, 0x0c)]
        self.check_against_sfdisk(20 * GIB // 512, entries, 0xDEADBEEF)

    def test_three_logicals_golden(self):
        disk_sectors, _, entries, disk_id = golden.golden_mbr()
        theirs, writes = self.check_against_sfdisk(disk_sectors, entries,
                                                   disk_id)
        self.assertEqual(golden.GOLDEN_MBR_SHA256,
                         self.digest_of(theirs, writes))

    def test_4096_logicals(self):
        self.need_fdisk()
        # 80 GiB of 4 KiB sectors: cylinder 1023 ends at sector 16450559.
        disk_sectors, disk_id = 80 * GIB // 4096, 0x0BADCAFE
        entries = [MbrEntry(1, 256, 262144, 0x83, bootable=True),
                   MbrEntry(5, 262656, 16000000, 0x83, ebr_lba=262400),
                   MbrEntry(6, 16449792, 2000000, 0x82, ebr_lba=16449536),
                   MbrEntry(7, 18450432, 1000000, 0x8e, ebr_lba=18450176)]
        writes = tables.build_mbr(disk_sectors, 4096, entries, disk_id)
        size = disk_sectors * 4096
        ours = self.ours(size, writes)

        headers, parts = self.fdisk_read(ours, 4096)
        self.assertEqual(('dos', '0x%08x' % disk_id, '4096'),
                         (headers['label'], headers['label-id'],
                          headers['sector-size']))
        seen = sorted((number, int(part['start']), int(part['size']),
                       int(part['type'], 16), part.get('bootable', False))
                      for number, part in parts.items())
        self.assertEqual(mbr_layout(entries), seen)

        theirs = self.fdisk_make(size, 4096,
                                 mbr_script(disk_id, 4096, entries))
        self.assert_same_bytes(ours, theirs, writes)
