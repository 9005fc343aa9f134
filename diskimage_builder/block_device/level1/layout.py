"""Where each partition goes: pure arithmetic, no I/O.

Rules (those of diskimage-builder, kept so its configs give the same
disks, plus alignment of every partition):

* partitions are placed in config order, each starting at the next
  multiple of ``align`` after the previous one;
* a size in bytes is rounded up to whole sectors; ``N%`` means N percent
  of the space still free where the partition starts, rounded down to a
  multiple of ``align`` so the next partition needs no gap;
* on MBR, partitions flagged ``primary`` come first and are primary; all
  others are logical partitions in one extended partition, each preceded
  by its extended boot record one alignment unit before it;
* on GPT, the usable range leaves room for both headers and both
  128-entry arrays.
"""
import dataclasses

from diskimage_builder.block_device import sizes

GPT_ENTRIES_BYTES = 128 * 128
MBR_MAX_LBA = 2 ** 32 - 1


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

    @property
    def last_lba(self):
        return self.first_lba + self.size_lba - 1


def usable_range(label, disk_sectors, sector_size):
    """First and last sector a partition may use."""
    if label == 'gpt':
        array = GPT_ENTRIES_BYTES // sector_size
        return 2 + array, disk_sectors - 2 - array
    return 1, min(disk_sectors - 1, MBR_MAX_LBA)


def place(label, disk_bytes, sector_size, align, requests):
    """Return [Placed] for *requests*, or raise LayoutError."""
    if align % sector_size:
        raise LayoutError(None, 'align %d is not a multiple of the %d-byte '
                          'sector size' % (align, sector_size))
    step = align // sector_size
    disk_sectors = disk_bytes // sector_size
    first, last = usable_range(label, disk_sectors, sector_size)
    _check_mbr_order(label, requests)
    cursor = sizes.align_up(first, step)
    placed = []
    logical_number = 5
    for index, req in enumerate(requests):
        ebr = None
        if label == 'mbr' and not req.primary:
            ebr = cursor
            start = sizes.align_up(cursor + 1, step)
            number = logical_number
            logical_number += 1
        else:
            start = cursor
            number = len(placed) + 1
        free = last + 1 - start
        count = _sectors(req, free, sector_size, step)
        if free <= 0 or count > free or count <= 0:
            raise LayoutError(index, _no_room(req, count, free, sector_size,
                                              disk_bytes))
        placed.append(Placed(req.name, number, start, count, ebr))
        cursor = sizes.align_up(start + count, step)
    return placed


def _sectors(req, free, sector_size, step):
    if isinstance(req.size, str):
        share = sizes.parse_percent(req.size)
        count = sizes.percent_of(max(free, 0), share)
        aligned = sizes.align_down(count, step)
        return aligned if aligned else count
    return -(-req.size // sector_size)


def _no_room(req, count, free, sector_size, disk_bytes):
    free_bytes = max(free, 0) * sector_size
    if isinstance(req.size, str):
        return ('partition %s: %s of the %s left is empty (disk %s)'
                % (req.name, req.size, sizes.human(free_bytes),
                   sizes.human(disk_bytes)))
    return ('partition %s needs %s but only %s is left (disk %s)'
            % (req.name, sizes.human(count * sector_size),
               sizes.human(free_bytes), sizes.human(disk_bytes)))


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
