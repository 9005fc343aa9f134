"""The GUID partition table as bytes (primary and backup header, entry
array, protective MBR): a pure builder, no I/O.  The bytes are the ones
util-linux's sfdisk writes for the same layout."""
from __future__ import annotations

import dataclasses
import re
import struct
import types
import uuid
import zlib

from diskimage_builder.block_device.disklabel import mbr
from diskimage_builder.block_device.disklabel.sectors import (
    U64, check_geometry, check_overlaps, what, sector_bytes)

GPT_ENTRIES_COUNT = 128
GPT_ENTRY_SIZE = 128
_GPT_SIGNATURE = b'EFI PART'
_GPT_REVISION = 0x00010000
_GPT_HEADER = struct.Struct('<8sIIIIQQQQ16sQIII')
_GPT_ENTRY = struct.Struct('<16s16sQQQ72s')
GPT_NAME_UNITS = 36
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
    check_geometry(disk_sectors, sector_size)
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
        raise ValueError('%s: name %r contains NUL' % (what(entry),
                                                       entry.name))
    encoded = entry.name.encode('utf-16-le')
    if len(encoded) > 2 * GPT_NAME_UNITS:
        raise ValueError('%s: name %r is %d UTF-16 code units, at most %d fit'
                         % (what(entry), entry.name, len(encoded) // 2,
                            GPT_NAME_UNITS))
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
                             % (what(entry), entry.first_lba, entry.last_lba))
        if (entry.first_lba < geometry.first_usable_lba
                or entry.last_lba > geometry.last_usable_lba):
            raise ValueError('%s (sectors %d-%d) is outside the usable '
                             'sectors %d-%d'
                             % (what(entry), entry.first_lba, entry.last_lba,
                                geometry.first_usable_lba,
                                geometry.last_usable_lba))
        if entry.type_guid.int == 0:
            # An all-zero type marks an unused slot: the partition would
            # silently vanish.
            raise ValueError('%s: the nil GUID is not a partition type'
                             % what(entry))
        if not 0 <= entry.attributes <= U64:
            raise ValueError('%s: attributes %r do not fit 64 bits'
                             % (what(entry), entry.attributes))
        _gpt_name(entry)
    check_overlaps([(e.first_lba, e.last_lba, what(e)) for e in entries])


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
    return sector_bytes(geometry.sector_size, (0, header))


def build_gpt(disk_sectors: int, sector_size: int, entries: list[GptEntry],
              disk_guid: uuid.UUID) -> list[tuple[int, bytes]]:
    """Writes for a GPT: protective MBR, both headers, both entry arrays."""
    geometry = gpt_layout(disk_sectors, sector_size)
    _check_gpt_entries(geometry, entries)
    array = _gpt_entry_array(geometry, entries)
    crc = zlib.crc32(array)
    padded = array.ljust(geometry.entries_sectors * sector_size, b'\x00')
    return [
        (0, mbr.protective_mbr(sector_size, disk_sectors)),
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
