import sys

from diskimage_builder.block_device.cli import main

sys.exit(main())
