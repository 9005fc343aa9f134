"""Where each partition goes: pure arithmetic, no I/O.

Two rule sets, chosen per table with ``sizing``:

``dib`` (the default): diskimage-builder 3.43's rules, so its configs give
the same partition tables sector for sector.

* GPT (diskimage-builder hands sgdisk sizes in whole MiB): 2 MiB at the
  end of the disk are kept back; ``N%`` is N percent of what is left of
  the rest, a fixed size is taken as given, and the share left shrinks
  by that exact amount; the partition gets that size rounded *down* to
  whole MiB and starts at the next multiple of ``align`` (1 MiB).
* MBR (diskimage-builder writes the table itself): partitions start at
  the next multiple of ``align`` and the next one starts at the multiple
  after this one's end; ``N%`` is N percent of the space after the
  current position less one alignment unit, so a last primary ``100%``
  leaves the last MiB free; sizes are rounded down to whole sectors.
  Logical partitions sit in one extended partition (type 0x0f) that runs
  from the first EBR to the end of the disk; each EBR is one alignment
  unit before its partition, and the link to it covers the EBR up to the
  aligned end of its partition.

``exact``: a size is rounded *up* to whole sectors; ``N%`` is N percent of
the space still free where the partition starts, rounded down to a
multiple of ``align`` so the next partition needs no gap; nothing is kept
back at the end.

Both: partitions in config order; on MBR the ``primary`` ones first and
all others logical (numbered from 5); on GPT the usable range leaves room
for both headers and both 128-entry arrays; a partition that does not
fit is an error with the numbers (diskimage-builder writes past the end
of the disk).  Sectors are the disk's own (diskimage-builder writes
512-byte MBR addresses on 4096-byte sectors).
"""
import dataclasses

from diskimage_builder.block_device import sizes

GPT_ENTRIES_BYTES = 128 * 128
MBR_MAX_LBA = 2 ** 32 - 1
MIB = 1 << 20
# What diskimage-builder keeps back at the end of a GPT disk.
DIB_GPT_RESERVE = 2 * MIB
MBR_EXTENDED_LBA = 0x0F
RULES = ('dib', 'exact')


class LayoutError(ValueError):
    """A layout that cannot be made; carries the index of the partition."""

    def __init__(self, index, message):
        self.index = index
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Request:
    name: str
    size: object          # bytes (int) or a percentage string "N%"
    primary: bool = False


@dataclasses.dataclass(frozen=True)
class Placed:
    name: str
    number: int
    first_lba: int
    size_lba: int
    ebr_lba: int | None = None
    # MBR logical partitions: the last sector the EBR link to this
    # partition covers (None: the partition's own last sector).
    link_last_lba: int | None = None

    @property
    def last_lba(self):
        return self.first_lba + self.size_lba - 1


@dataclasses.dataclass(frozen=True)
class Extended:
    """The MBR extended partition holding the logical ones."""
    first_lba: int
    last_lba: int
    type_byte: int = MBR_EXTENDED_LBA


@dataclasses.dataclass(frozen=True)
class Layout:
    partitions: tuple
    extended: Extended | None = None


def usable_range(label, disk_sectors, sector_size):
    """First and last sector a partition may use."""
    if label == 'gpt':
        array = GPT_ENTRIES_BYTES // sector_size
        return 2 + array, disk_sectors - 2 - array
    return 1, min(disk_sectors - 1, MBR_MAX_LBA)


def place(label, disk_bytes, sector_size, align, requests, rules='dib'):
    """Return the :class:`Layout` of *requests*, or raise LayoutError."""
    if align % sector_size:
        raise LayoutError(None, 'align %d is not a multiple of the %d-byte '
                          'sector size' % (align, sector_size))
    if rules not in RULES:
        raise LayoutError(None, 'unknown sizing rules %r' % (rules,))
    _check_mbr_order(label, requests)
    disk = _Disk(label, disk_bytes, sector_size, align // sector_size)
    placed = (_place_dib if rules == 'dib' else _place_exact)(disk, requests)
    return Layout(tuple(placed), _extended(label, rules, disk, placed))


class _Disk:
    def __init__(self, label, disk_bytes, sector_size, step):
        self.label = label
        self.bytes = disk_bytes
        self.sector = sector_size
        self.sectors = disk_bytes // sector_size
        self.step = step
        self.first, self.last = usable_range(label, self.sectors,
                                             sector_size)

    def check(self, index, req, start, count):
        free = self.last + 1 - start
        if free <= 0 or count > free or count <= 0:
            raise LayoutError(index, _no_room(req, count, free, self.sector,
                                              self.bytes))


def _numbering(requests, label):
    """(request, number, logical?) in config order, Linux numbering."""
    logical = 5
    for index, req in enumerate(requests):
        if label == 'mbr' and not req.primary:
            yield index, req, logical, True
            logical += 1
        else:
            yield index, req, index + 1, False


def _place_exact(disk, requests):
    placed = []
    cursor = sizes.align_up(disk.first, disk.step)
    for index, req, number, logical in _numbering(requests, disk.label):
        ebr = cursor if logical else None
        start = sizes.align_up(cursor + 1, disk.step) if logical else cursor
        free = max(disk.last + 1 - start, 0)
        if isinstance(req.size, str):
            count = sizes.percent_of(free, sizes.parse_percent(req.size))
            count = sizes.align_down(count, disk.step) or count
        else:
            count = -(-req.size // disk.sector)
        disk.check(index, req, start, count)
        placed.append(Placed(req.name, number, start, count, ebr))
        cursor = sizes.align_up(start + count, disk.step)
    return placed


def _place_dib(disk, requests):
    return (_dib_gpt if disk.label == 'gpt' else _dib_mbr)(disk, requests)


def _dib_share(req, free_bytes):
    """Bytes of a request: a percentage in diskimage-builder's float
    arithmetic (the same number for every config), or the size."""
    if isinstance(req.size, str):
        percent = float(req.size.strip().rstrip('%'))
        return int(free_bytes * percent / 100.0)
    return req.size


def _dib_gpt(disk, requests):
    placed = []
    free = disk.bytes - DIB_GPT_RESERVE
    cursor = sizes.align_up(disk.first, disk.step)
    for index, req, number, _ in _numbering(requests, 'gpt'):
        wanted = _dib_share(req, free)
        if wanted > free or wanted < MIB:
            raise LayoutError(index, _dib_no_room(req, wanted, free, disk))
        free -= wanted
        count = wanted // MIB * MIB // disk.sector
        disk.check(index, req, cursor, count)
        placed.append(Placed(req.name, number, cursor, count))
        cursor = sizes.align_up(cursor + count, disk.step)
    return placed


def _dib_mbr(disk, requests):
    placed = []
    next_free = sizes.align_up(1, disk.step)
    for index, req, number, logical in _numbering(requests, 'mbr'):
        free = disk.bytes - (next_free + disk.step) * disk.sector
        count = _dib_share(req, free) // disk.sector
        ebr = next_free if logical else None
        start = sizes.align_up(next_free + 1 if logical else next_free,
                               disk.step)
        disk.check(index, req, start, count)
        next_free = sizes.align_up(start + count, disk.step)
        link_last = min(next_free, disk.sectors) - 1 if logical else None
        placed.append(Placed(req.name, number, start, count, ebr, link_last))
    return placed


def _extended(label, rules, disk, placed):
    logicals = [p for p in placed if p.ebr_lba is not None]
    if label != 'mbr' or not logicals:
        return None
    if rules == 'dib':
        return Extended(logicals[0].ebr_lba,
                        min(disk.sectors, MBR_MAX_LBA + 1) - 1)
    return Extended(logicals[0].ebr_lba, logicals[-1].last_lba)


def _no_room(req, count, free, sector_size, disk_bytes):
    free_bytes = max(free, 0) * sector_size
    if isinstance(req.size, str):
        return ('partition %s: %s of the %s left is empty (disk %s)'
                % (req.name, req.size, sizes.human(free_bytes),
                   sizes.human(disk_bytes)))
    return ('partition %s needs %s but only %s is left (disk %s)'
            % (req.name, sizes.human(count * sector_size),
               sizes.human(free_bytes), sizes.human(disk_bytes)))


def _dib_no_room(req, wanted, free, disk):
    if wanted > free:
        return ('partition %s needs %s but only %s is left (disk %s, of '
                'which the last 2 MiB are kept free)'
                % (req.name, sizes.human(wanted), sizes.human(max(free, 0)),
                   sizes.human(disk.bytes)))
    return ('partition %s is %s: GPT partitions are made in whole MiB, and '
            'this one rounds down to none' % (req.name,
                                              sizes.human(max(wanted, 0))))


def _check_mbr_order(label, requests):
    if label != 'mbr':
        if len(requests) > 128:
            raise LayoutError(128, 'GPT holds at most 128 partitions')
        return
    seen_logical = False
    primaries = 0
    for index, req in enumerate(requests):
        if req.primary:
            if seen_logical:
                raise LayoutError(index, 'partition %s is primary but '
                                  'follows a logical partition: primary '
                                  'partitions must come first' % req.name)
            primaries += 1
        else:
            seen_logical = True
    slots = primaries + (1 if seen_logical else 0)
    if slots > 4:
        raise LayoutError(4, 'MBR holds at most 4 primary partitions (an '
                          'extended one counts as one); this config asks '
                          'for %d' % slots)
