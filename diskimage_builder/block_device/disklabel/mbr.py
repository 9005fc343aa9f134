"""The MBR (DOS) partition table as bytes, with the EBR chain of logical
partitions: a pure builder, no I/O.  The bytes are the ones util-linux's
sfdisk writes for the same layout (CHS encoding included)."""
from __future__ import annotations

import dataclasses
import struct

from diskimage_builder.block_device.disklabel.sectors import (
    U32, check_geometry, check_overlaps, what, sector_bytes)

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
    if not 0 <= disk_id <= U32:
        raise ValueError('MBR disk id %r does not fit 32 bits' % (disk_id,))
    if not 1 <= number <= 255:
        raise ValueError('MBR partition number %r out of range' % (number,))
    return '%08x-%02x' % (disk_id, number)


def _mbr_record(type_byte, bootable, first, size, base=0):
    """Pack a record; CHS uses absolute sectors, the LBA is from ``base``."""
    relative = first - base
    if not (0 <= relative <= U32 and 0 < size <= U32):
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
                         % (what(entry), entry.type_byte))
    if entry.type_byte in MBR_EXTENDED_TYPES:
        # The kernel would read the partition's first sector as an EBR.
        raise ValueError('%s: type 0x%02x marks an extended partition, '
                         'not one that holds data'
                         % (what(entry), entry.type_byte))
    if entry.first_lba < 0 or entry.size_lba < 1:
        raise ValueError('%s: start %d / size %d sectors is not a valid '
                         'extent' % (what(entry), entry.first_lba,
                                     entry.size_lba))
    if entry.last_lba >= disk_sectors:
        raise ValueError('%s ends at sector %d, past the end of the %d-sector '
                         'disk' % (what(entry), entry.last_lba, disk_sectors))
    if entry.number <= 4 and entry.ebr_lba is not None:
        raise ValueError('%s is primary and cannot have an EBR'
                         % what(entry))
    if entry.number > 4:
        if entry.ebr_lba is None:
            raise ValueError('logical %s needs ebr_lba' % what(entry))
        if not 0 <= entry.ebr_lba < entry.first_lba:
            raise ValueError('logical %s: its EBR (sector %r) must come '
                             'before its first sector %d'
                             % (what(entry), entry.ebr_lba, entry.first_lba))


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
                             'the disk' % (what(after), what(before)))
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
    top += [(e.first_lba, e.last_lba, what(e)) for e in primaries]
    if extended:
        top.append((extended[0], extended[1], 'the extended partition'))
    check_overlaps(top)
    inner = [(e.ebr_lba, e.ebr_lba, 'the EBR of ' + what(e))
             for e in logicals]
    inner += [(e.first_lba, e.last_lba, what(e)) for e in logicals]
    check_overlaps(inner)


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
                             % what(entry))


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
    return sector_bytes(sector_size,
                        (_MBR_TABLE_OFFSET, b''.join(records)),
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
    check_geometry(disk_sectors, sector_size)
    if not 0 <= disk_id <= U32:
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

    writes = [(0, _mbr_sector(sector_size, disk_id, primaries, extended))]
    for index, entry in enumerate(logicals):
        following = logicals[index + 1] if index + 1 < len(logicals) else None
        writes.append((entry.ebr_lba * sector_size,
                       _ebr_sector(sector_size, entry, following,
                                   extended[0])))
    return writes


def _mbr_sector(sector_size, disk_id, primaries, extended):
    """The first sector: disk id, the primary entries and the extended
    one in the first free slot."""
    table = bytearray(64)
    for entry in primaries:
        slot = (entry.number - 1) * _MBR_RECORD.size
        table[slot:slot + _MBR_RECORD.size] = _mbr_record(
            entry.type_byte, entry.bootable, entry.first_lba, entry.size_lba)
    if extended:
        slot = _extended_slot(primaries) * _MBR_RECORD.size
        table[slot:slot + _MBR_RECORD.size] = _mbr_record(
            extended[2], False, extended[0], extended[1] - extended[0] + 1)
    return sector_bytes(
        sector_size, (_MBR_DISK_ID_OFFSET, struct.pack('<I', disk_id)),
        (_MBR_TABLE_OFFSET, bytes(table)),
        (_MBR_SIGNATURE_OFFSET, _MBR_SIGNATURE))


def protective_mbr(sector_size, disk_sectors):
    """The MBR of a GPT disk: one 0xEE entry over the whole disk.  Its end
    CHS is the fixed 0xFFFFFF of the UEFI spec, not a clamped CHS: that is
    what sfdisk writes whatever the disk size."""
    record = _MBR_RECORD.pack(
        0, lba_to_chs(1), _MBR_PROTECTIVE, b'\xff\xff\xff', 1,
        min(disk_sectors - 1, U32))
    return sector_bytes(sector_size, (_MBR_TABLE_OFFSET, record),
                        (_MBR_SIGNATURE_OFFSET, _MBR_SIGNATURE))
