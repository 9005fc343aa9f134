"""The entry point diskimage-builder's main script calls.

``disk-image-create`` runs its block-device layer as
``${DIB_PYTHON_EXEC} ${_LIB}/dib-block-device.py PHASE``, and that script
imports ``main`` from this module and exits with what it returns.  This
package installed over diskimage-builder replaces the module, so the main
script runs this command line unchanged.
"""
from diskimage_builder.block_device.cli import main

__all__ = ['main']
