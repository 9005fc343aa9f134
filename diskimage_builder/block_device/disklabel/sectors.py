"""What the MBR and GPT builders share: sector sizes, checks of a layout,
and laying fields into a sector."""
SECTOR_SIZES = (512, 1024, 2048, 4096)

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


def check_geometry(disk_sectors, sector_size):
    if sector_size not in SECTOR_SIZES:
        raise ValueError('sector size %r is not one of %s'
                         % (sector_size, ', '.join(map(str, SECTOR_SIZES))))
    if not isinstance(disk_sectors, int) or disk_sectors < 1:
        raise ValueError('disk size %r sectors is not a positive integer'
                         % (disk_sectors,))


def check_overlaps(spans):
    """Raise if any two inclusive (first, last, label) spans intersect."""
    ordered = sorted(spans, key=lambda span: (span[0], span[1]))
    for before, after in zip(ordered, ordered[1:]):
        if after[0] <= before[1]:
            raise ValueError('%s (sectors %d-%d) overlaps %s (sectors %d-%d)'
                             % (after[2], after[0], after[1],
                                before[2], before[0], before[1]))


def what(entry):
    return 'partition %s' % (entry.number,)


def sector_bytes(sector_size, *fields):
    """One zero-filled sector with (offset, bytes) fields laid into it."""
    data = bytearray(sector_size)
    for offset, value in fields:
        data[offset:offset + len(value)] = value
    return bytes(data)
