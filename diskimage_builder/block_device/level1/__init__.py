"""Level 1: partition tables and the partitions on them."""
