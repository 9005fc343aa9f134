"""MBR and GPT partition tables as bytes: pure builders, no I/O.

Each builder checks a layout and returns the writes that put the table on
a disk, as ``(byte offset, data)`` pairs in offset order.  The bytes are
the ones util-linux's sfdisk writes for the same layout (CHS encoding,
EBR chain, protective MBR, header fields), so an image built here and one
built by sfdisk are interchangeable byte for byte; the functional tests
hold us to that.
"""
from __future__ import annotations

import dataclasses
import re
import struct
import types
import uuid
import zlib

SECTOR_SIZES = (512, 1024, 2048, 4096)

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF

_MBR_DISK_ID_OFFSET = 440
_MBR_TABLE_OFFSET = 446
_MBR_SIGNATURE_OFFSET = 510
_MBR_SIGNATURE = b'\x55\xaa'
# boot flag, CHS of first sector, type, CHS of last sector, LBA, size
_MBR_RECORD = struct.Struct('<B3sB3sII')
_MBR_BOOTABLE = 0x80
_MBR_EXTENDED = 0x05
# Types that mark an extended partition: Linux follows each of them.
MBR_EXTENDED_TYPES = (0x05, 0x0F, 0x85)
_MBR_PROTECTIVE = 0xEE

# The geometry sfdisk assumes for a device that reports none.
_HEADS = 255
_SECTORS_PER_TRACK = 63
_CHS_LAST_LBA = 1024 * _HEADS * _SECTORS_PER_TRACK - 1


def lba_to_chs(lba: int) -> bytes:
    """Encode an LBA as the 3 CHS bytes of an MBR record (head, sector, cyl).

    LBAs past cylinder 1023 cannot be expressed; they are clamped to the
    last addressable sector (cylinder 1023, head 254, sector 63), which is
    what sfdisk writes.
    """
    if lba < 0:
        raise ValueError('negative LBA %d' % lba)
    cylinder, rest = divmod(min(lba, _CHS_LAST_LBA),
                            _HEADS * _SECTORS_PER_TRACK)
    head, sector = divmod(rest, _SECTORS_PER_TRACK)
    # Bits 8-9 of the cylinder ride in the top bits of the sector byte.
    return bytes((head, (sector + 1) | (cylinder >> 8) << 6, cylinder & 0xFF))


def _check_geometry(disk_sectors, sector_size):
    if sector_size not in SECTOR_SIZES:
        raise ValueError('sector size %r is not one of %s'
                         % (sector_size, ', '.join(map(str, SECTOR_SIZES))))
    if not isinstance(disk_sectors, int) or disk_sectors < 1:
        raise ValueError('disk size %r sectors is not a positive integer'
                         % (disk_sectors,))


def _check_overlaps(spans):
    """Raise if any two inclusive (first, last, label) spans intersect."""
    ordered = sorted(spans, key=lambda span: (span[0], span[1]))
    for before, after in zip(ordered, ordered[1:]):
        if after[0] <= before[1]:
            raise ValueError('%s (sectors %d-%d) overlaps %s (sectors %d-%d)'
                             % (after[2], after[0], after[1],
                                before[2], before[0], before[1]))


def _what(entry):
    return 'partition %s' % (entry.number,)


def _sector(sector_size, *fields):
    """One zero-filled sector with (offset, bytes) fields laid into it."""
    data = bytearray(sector_size)
    for offset, value in fields:
        data[offset:offset + len(value)] = value
    return bytes(data)


# --------------------------------------------------------------------- MBR

@dataclasses.dataclass(frozen=True)
class MbrEntry:
    """One MBR partition: 1-4 primary, 5.. logical (Linux numbering)."""
    number: int
    first_lba: int
    size_lba: int
    type_byte: int
    bootable: bool = False
    # Logical partitions only: the sector of the EBR describing this one,
    # and the last sector the previous EBR's link to it covers (default:
    # this partition's own last sector, as sfdisk writes it).
    ebr_lba: int | None = None
    link_last_lba: int | None = None

    @property
    def last_lba(self):
        return self.first_lba + self.size_lba - 1


def mbr_partuuid(disk_id: int, number: int) -> str:
    """Linux's PARTUUID for partition ``number`` of MBR disk ``disk_id``."""
    if not 0 <= disk_id <= _U32:
        raise ValueError('MBR disk id %r does not fit 32 bits' % (disk_id,))
    if not 1 <= number <= 255:
        raise ValueError('MBR partition number %r out of range' % (number,))
    return '%08x-%02x' % (disk_id, number)


def _mbr_record(type_byte, bootable, first, size, base=0):
    """Pack a record; CHS uses absolute sectors, the LBA is from ``base``."""
    relative = first - base
    if not (0 <= relative <= _U32 and 0 < size <= _U32):
        raise ValueError('MBR entry at sector %d, %d sectors long, does not '
                         'fit 32-bit LBA fields' % (first, size))
    return _MBR_RECORD.pack(_MBR_BOOTABLE if bootable else 0,
                            lba_to_chs(first), type_byte,
                            lba_to_chs(first + size - 1), relative, size)


def _check_mbr_entry(disk_sectors, entry):
    if not isinstance(entry.number, int) or entry.number < 1:
        raise ValueError('MBR partition number %r must be 1 or more'
                         % (entry.number,))
    if not 1 <= entry.type_byte <= 0xFF:
        raise ValueError('%s: type byte %r is not in 0x01-0xff'
                         % (_what(entry), entry.type_byte))
    if entry.type_byte in MBR_EXTENDED_TYPES:
        # The kernel would read the partition's first sector as an EBR.
        raise ValueError('%s: type 0x%02x marks an extended partition, '
                         'not one that holds data'
                         % (_what(entry), entry.type_byte))
    if entry.first_lba < 0 or entry.size_lba < 1:
        raise ValueError('%s: start %d / size %d sectors is not a valid '
                         'extent' % (_what(entry), entry.first_lba,
                                     entry.size_lba))
    if entry.last_lba >= disk_sectors:
        raise ValueError('%s ends at sector %d, past the end of the %d-sector '
                         'disk' % (_what(entry), entry.last_lba, disk_sectors))
    if entry.number <= 4 and entry.ebr_lba is not None:
        raise ValueError('%s is primary and cannot have an EBR'
                         % _what(entry))
    if entry.number > 4:
        if entry.ebr_lba is None:
            raise ValueError('logical %s needs ebr_lba' % _what(entry))
        if not 0 <= entry.ebr_lba < entry.first_lba:
            raise ValueError('logical %s: its EBR (sector %r) must come '
                             'before its first sector %d'
                             % (_what(entry), entry.ebr_lba, entry.first_lba))


def _split_mbr_entries(disk_sectors, entries):
    """Validate entries; return (primaries, logicals in chain order)."""
    numbers = [entry.number for entry in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError('duplicate MBR partition numbers in %s'
                         % sorted(numbers))
    for entry in entries:
        _check_mbr_entry(disk_sectors, entry)
    primaries = sorted((e for e in entries if e.number <= 4),
                       key=lambda e: e.number)
    logicals = sorted((e for e in entries if e.number > 4),
                      key=lambda e: e.number)
    # Linux numbers logical partitions by their place in the EBR chain.
    expected = list(range(5, 5 + len(logicals)))
    if [e.number for e in logicals] != expected:
        raise ValueError('logical partitions must be numbered %s, got %s'
                         % (expected, [e.number for e in logicals]))
    for before, after in zip(logicals, logicals[1:]):
        if after.ebr_lba <= before.last_lba:
            raise ValueError('logical %s (and its EBR) must lie after %s on '
                             'the disk' % (_what(after), _what(before)))
    return primaries, logicals


def _extended_slot(primaries):
    """Table slot for the extended partition: first free after primaries."""
    used = {entry.number - 1 for entry in primaries}
    free = [slot for slot in range(4) if slot not in used]
    if not free:
        raise ValueError('no room for the extended partition: 4 primary '
                         'partitions already fill the MBR')
    after = [slot for slot in free if slot > max(used, default=-1)]
    return (after or free)[0]


def _check_mbr_space(primaries, logicals, extended):
    top = [(0, 0, 'the MBR')]
    top += [(e.first_lba, e.last_lba, _what(e)) for e in primaries]
    if extended:
        top.append((extended[0], extended[1], 'the extended partition'))
    _check_overlaps(top)
    inner = [(e.ebr_lba, e.ebr_lba, 'the EBR of ' + _what(e))
             for e in logicals]
    inner += [(e.first_lba, e.last_lba, _what(e)) for e in logicals]
    _check_overlaps(inner)


def _check_extended(disk_sectors, logicals, extended):
    first, last, type_byte = extended
    if type_byte not in MBR_EXTENDED_TYPES:
        raise ValueError('extended partition type %r is not one of %s'
                         % (type_byte, ', '.join('0x%02x' % t for t in
                                                 MBR_EXTENDED_TYPES)))
    if first > logicals[0].ebr_lba or last < logicals[-1].last_lba or \
            last >= disk_sectors:
        raise ValueError('the extended partition (sectors %d-%d) must hold '
                         'every logical partition and lie on the disk'
                         % (first, last))
    for entry in logicals:
        if entry.link_last_lba is not None and not (
                entry.last_lba <= entry.link_last_lba <= last):
            raise ValueError('%s: its EBR link must end between its last '
                             'sector and the end of the extended partition'
                             % _what(entry))


def _ebr_sector(sector_size, entry, following, extended_first):
    """The EBR of ``entry``: itself, then a link to the ``following`` EBR."""
    records = [_mbr_record(entry.type_byte, entry.bootable, entry.first_lba,
                           entry.size_lba, base=entry.ebr_lba)]
    if following is not None:
        # The link covers the next EBR through the end of its partition and
        # counts from the start of the extended partition, not this EBR.
        last = following.link_last_lba or following.last_lba
        records.append(_mbr_record(
            _MBR_EXTENDED, False, following.ebr_lba,
            last - following.ebr_lba + 1, base=extended_first))
    return _sector(sector_size, (_MBR_TABLE_OFFSET, b''.join(records)),
                   (_MBR_SIGNATURE_OFFSET, _MBR_SIGNATURE))


def build_mbr(disk_sectors: int, sector_size: int, entries: list[MbrEntry],
              disk_id: int, extended: tuple | None = None
              ) -> list[tuple[int, bytes]]:
    """Writes for an MBR (with an EBR chain for any logical partitions).

    All LBAs are in units of ``sector_size``; the MBR and each EBR fill one
    whole sector.  With logical partitions an extended partition is added:
    ``extended`` gives its (first sector, last sector, type byte); by
    default it is what sfdisk writes, type 0x05 from the first EBR to the
    end of the last logical partition.
    """
    _check_geometry(disk_sectors, sector_size)
    if not 0 <= disk_id <= _U32:
        raise ValueError('MBR disk id %r does not fit 32 bits' % (disk_id,))
    primaries, logicals = _split_mbr_entries(disk_sectors, entries)
    if logicals and extended is None:
        extended = (logicals[0].ebr_lba, logicals[-1].last_lba,
                    _MBR_EXTENDED)
    if not logicals:
        extended = None
    if extended:
        _check_extended(disk_sectors, logicals, extended)
    _check_mbr_space(primaries, logicals, extended)

    table = bytearray(64)
    for entry in primaries:
        slot = (entry.number - 1) * _MBR_RECORD.size
        table[slot:slot + _MBR_RECORD.size] = _mbr_record(
            entry.type_byte, entry.bootable, entry.first_lba, entry.size_lba)
    if extended:
        slot = _extended_slot(primaries) * _MBR_RECORD.size
        table[slot:slot + _MBR_RECORD.size] = _mbr_record(
            extended[2], False, extended[0], extended[1] - extended[0] + 1)
    writes = [(0, _sector(sector_size,
                          (_MBR_DISK_ID_OFFSET, struct.pack('<I', disk_id)),
                          (_MBR_TABLE_OFFSET, bytes(table)),
                          (_MBR_SIGNATURE_OFFSET, _MBR_SIGNATURE)))]
    for index, entry in enumerate(logicals):
        following = logicals[index + 1] if index + 1 < len(logicals) else None
        writes.append((entry.ebr_lba * sector_size,
                       _ebr_sector(sector_size, entry, following,
                                   extended[0])))
    return writes


# --------------------------------------------------------------------- GPT

GPT_ENTRIES_COUNT = 128
GPT_ENTRY_SIZE = 128
_GPT_SIGNATURE = b'EFI PART'
_GPT_REVISION = 0x00010000
_GPT_HEADER = struct.Struct('<8sIIIIQQQQ16sQIII')
_GPT_ENTRY = struct.Struct('<16s16sQQQ72s')
_GPT_NAME_UNITS = 36
GPT_ATTR_LEGACY_BIOS_BOOTABLE = 1 << 2


@dataclasses.dataclass(frozen=True)
class GptGeometry:
    """Where the GPT structures of a disk sit, in sectors of sector_size."""
    disk_sectors: int
    sector_size: int
    entries_count: int
    entries_sectors: int
    primary_header_lba: int
    primary_entries_lba: int
    first_usable_lba: int
    last_usable_lba: int
    backup_entries_lba: int
    backup_header_lba: int


@dataclasses.dataclass(frozen=True)
class GptEntry:
    """One GPT partition; ``number`` is its 1-based slot in the array."""
    number: int
    first_lba: int
    last_lba: int
    type_guid: uuid.UUID
    part_guid: uuid.UUID
    name: str = ''
    attributes: int = 0


def gpt_layout(disk_sectors: int, sector_size: int,
               entries_count: int = GPT_ENTRIES_COUNT) -> GptGeometry:
    """The GPT geometry of a disk, entry arrays packed against the headers."""
    _check_geometry(disk_sectors, sector_size)
    if not isinstance(entries_count, int) or entries_count < 1:
        raise ValueError('GPT entry count %r must be 1 or more'
                         % (entries_count,))
    entries_sectors = -(-entries_count * GPT_ENTRY_SIZE // sector_size)
    backup_header = disk_sectors - 1
    backup_entries = backup_header - entries_sectors
    geometry = GptGeometry(
        disk_sectors=disk_sectors, sector_size=sector_size,
        entries_count=entries_count, entries_sectors=entries_sectors,
        primary_header_lba=1, primary_entries_lba=2,
        first_usable_lba=2 + entries_sectors,
        last_usable_lba=backup_entries - 1,
        backup_entries_lba=backup_entries, backup_header_lba=backup_header)
    if geometry.last_usable_lba < geometry.first_usable_lba:
        raise ValueError('a %d-sector disk is too small for a GPT'
                         % disk_sectors)
    return geometry


def _gpt_name(entry):
    if '\x00' in entry.name:
        raise ValueError('%s: name %r contains NUL' % (_what(entry),
                                                       entry.name))
    encoded = entry.name.encode('utf-16-le')
    if len(encoded) > 2 * _GPT_NAME_UNITS:
        raise ValueError('%s: name %r is %d UTF-16 code units, at most %d fit'
                         % (_what(entry), entry.name, len(encoded) // 2,
                            _GPT_NAME_UNITS))
    return encoded


def _check_gpt_entries(geometry, entries):
    numbers = [entry.number for entry in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError('duplicate GPT partition numbers in %s'
                         % sorted(numbers))
    for entry in entries:
        if not 1 <= entry.number <= geometry.entries_count:
            raise ValueError('GPT partition number %r is not in 1-%d'
                             % (entry.number, geometry.entries_count))
        if entry.first_lba > entry.last_lba:
            raise ValueError('%s: first LBA %d is after last LBA %d'
                             % (_what(entry), entry.first_lba, entry.last_lba))
        if (entry.first_lba < geometry.first_usable_lba
                or entry.last_lba > geometry.last_usable_lba):
            raise ValueError('%s (sectors %d-%d) is outside the usable '
                             'sectors %d-%d'
                             % (_what(entry), entry.first_lba, entry.last_lba,
                                geometry.first_usable_lba,
                                geometry.last_usable_lba))
        if entry.type_guid.int == 0:
            # An all-zero type marks an unused slot: the partition would
            # silently vanish.
            raise ValueError('%s: the nil GUID is not a partition type'
                             % _what(entry))
        if not 0 <= entry.attributes <= _U64:
            raise ValueError('%s: attributes %r do not fit 64 bits'
                             % (_what(entry), entry.attributes))
        _gpt_name(entry)
    _check_overlaps([(e.first_lba, e.last_lba, _what(e)) for e in entries])


def _gpt_entry_array(geometry, entries):
    array = bytearray(geometry.entries_count * GPT_ENTRY_SIZE)
    for entry in entries:
        offset = (entry.number - 1) * GPT_ENTRY_SIZE
        array[offset:offset + _GPT_ENTRY.size] = _GPT_ENTRY.pack(
            entry.type_guid.bytes_le, entry.part_guid.bytes_le,
            entry.first_lba, entry.last_lba, entry.attributes,
            _gpt_name(entry))
    return bytes(array)


def _gpt_header(geometry, disk_guid, entries_crc, backup):
    if backup:
        mine, other = geometry.backup_header_lba, geometry.primary_header_lba
        entries_lba = geometry.backup_entries_lba
    else:
        mine, other = geometry.primary_header_lba, geometry.backup_header_lba
        entries_lba = geometry.primary_entries_lba

    def pack(crc):
        return _GPT_HEADER.pack(
            _GPT_SIGNATURE, _GPT_REVISION, _GPT_HEADER.size, crc, 0,
            mine, other, geometry.first_usable_lba, geometry.last_usable_lba,
            disk_guid.bytes_le, entries_lba, geometry.entries_count,
            GPT_ENTRY_SIZE, entries_crc)

    header = pack(zlib.crc32(pack(0)))
    return _sector(geometry.sector_size, (0, header))


def _protective_mbr(geometry):
    # The end CHS is the fixed 0xFFFFFF of the UEFI spec, not a clamped
    # CHS: that is what sfdisk writes whatever the disk size.
    record = _MBR_RECORD.pack(
        0, lba_to_chs(1), _MBR_PROTECTIVE, b'\xff\xff\xff', 1,
        min(geometry.disk_sectors - 1, _U32))
    return _sector(geometry.sector_size, (_MBR_TABLE_OFFSET, record),
                   (_MBR_SIGNATURE_OFFSET, _MBR_SIGNATURE))


def build_gpt(disk_sectors: int, sector_size: int, entries: list[GptEntry],
              disk_guid: uuid.UUID) -> list[tuple[int, bytes]]:
    """Writes for a GPT: protective MBR, both headers, both entry arrays."""
    geometry = gpt_layout(disk_sectors, sector_size)
    _check_gpt_entries(geometry, entries)
    array = _gpt_entry_array(geometry, entries)
    crc = zlib.crc32(array)
    padded = array.ljust(geometry.entries_sectors * sector_size, b'\x00')
    return [
        (0, _protective_mbr(geometry)),
        (geometry.primary_header_lba * sector_size,
         _gpt_header(geometry, disk_guid, crc, backup=False)),
        (geometry.primary_entries_lba * sector_size, padded),
        (geometry.backup_entries_lba * sector_size, padded),
        (geometry.backup_header_lba * sector_size,
         _gpt_header(geometry, disk_guid, crc, backup=True)),
    ]


# sgdisk's 4-hex type codes (gdisk's parttypes.cc) for the common types.
GPT_TYPE_CODES = types.MappingProxyType({
    code: uuid.UUID(guid) for code, guid in (
        ('0700', 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7'),  # basic data
        ('0C01', 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE'),  # MS reserved
        ('2700', 'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC'),  # Windows RE
        ('4100', '9E1A2D38-C612-4316-AA26-8B49521E5A8B'),  # PowerPC PReP
        ('8200', '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'),  # Linux swap
        ('8300', '0FC63DAF-8483-4772-8E79-3D69D8477DE4'),  # Linux fs
        ('8301', '8DA63339-0007-60C0-C436-083AC8230908'),  # Linux reserved
        ('8302', '933AC7E1-2EB4-4F13-B844-0E14E2AEF915'),  # Linux /home
        ('8303', '44479540-F297-41B2-9AF7-D131D5F0458A'),  # x86 root
        ('8304', '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'),  # x86-64 root
        ('8305', 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE'),  # ARM64 root
        ('8306', '3B8F8425-20E0-4F3B-907F-1A25A76F98E8'),  # Linux /srv
        ('8307', '69DAD710-2CE4-4E3C-B16C-21A1D49ABED3'),  # ARM32 root
        ('8308', '7FFEC5C9-2D00-49B7-8941-3EA10A5586B7'),  # dm-crypt
        ('8309', 'CA7D7CCB-63ED-4C53-861C-1742536059CC'),  # LUKS
        ('8310', '4D21B016-B534-45C2-A9FB-5C16E091FD2D'),  # Linux /var
        ('8311', '7EC6F557-3BC5-4ACA-B293-16EF5DF639D1'),  # /var/tmp
        ('8314', '8484680C-9521-48C6-9C11-B0720656F69E'),  # x86-64 /usr
        ('8316', 'B0E01050-EE5F-4390-949A-9101B17104E9'),  # ARM64 /usr
        ('8E00', 'E6D6D379-F507-44C2-A23C-238F2A3DF928'),  # Linux LVM
        ('A500', '516E7CB4-6ECF-11D6-8FF8-00022D09712B'),  # FreeBSD label
        ('A501', '83BD6B9D-7F41-11DC-BE0B-001560B84F0F'),  # FreeBSD boot
        ('A502', '516E7CB5-6ECF-11D6-8FF8-00022D09712B'),  # FreeBSD swap
        ('A503', '516E7CB6-6ECF-11D6-8FF8-00022D09712B'),  # FreeBSD UFS
        ('A504', '516E7CBA-6ECF-11D6-8FF8-00022D09712B'),  # FreeBSD ZFS
        ('AF00', '48465300-0000-11AA-AA11-00306543ECAC'),  # Apple HFS+
        ('BF01', '6A898CC3-1DD2-11B2-99A6-080020736631'),  # Solaris/Mac ZFS
        ('EA00', 'BC13C2FF-59E6-4262-A352-B275FD6F7172'),  # XBOOTLDR
        ('EF00', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'),  # EFI system
        ('EF01', '024DEE41-33E7-11D3-9D69-0008C781F39F'),  # MBR scheme
        ('EF02', '21686148-6449-6E6F-744E-656564454649'),  # BIOS boot
        ('FD00', 'A19D880F-05FC-4D3B-A006-743F0F84911E'),  # Linux RAID
    )
})

_TYPE_CODE_RE = re.compile(r'(?:0x)?([0-9a-f]{4})', re.IGNORECASE)
_GUID_RE = re.compile(r'[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}',
                      re.IGNORECASE)


def gpt_type_guid(code: str) -> uuid.UUID:
    """A GPT type GUID from an sgdisk code (``EF00``, ``0x8300``) or a GUID."""
    text = code.strip() if isinstance(code, str) else code
    if isinstance(text, str):
        match = _TYPE_CODE_RE.fullmatch(text)
        if match and match.group(1).upper() in GPT_TYPE_CODES:
            return GPT_TYPE_CODES[match.group(1).upper()]
        if _GUID_RE.fullmatch(text):
            return uuid.UUID(text)
    raise ValueError(
        'unknown GPT partition type %r: give a GUID '
        '(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or one of the sgdisk codes '
        '%s (case-insensitive, optionally prefixed with 0x)'
        % (code, ', '.join(sorted(GPT_TYPE_CODES))))
