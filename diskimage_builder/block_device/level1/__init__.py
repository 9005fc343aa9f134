"""Level 1: what is built on a disk and gives block devices again:
partition tables, LVM, LUKS and md arrays."""
