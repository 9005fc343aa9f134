"""Build the storage of a disk image, in phases, each a fresh process.

    init -> create -> writefstab -> umount -> cleanup
                                            \\-> delete (on failure)

``init`` reads the YAML config, checks all of it and writes the node graph
to ``<build-dir>/states/block-device/config.json``.  ``create`` builds the
stack in graph order (image file and loop device, partition table and
partitions, filesystems, mounts), journaling every resource in
``state.json`` before it acquires it.  ``writefstab`` writes the fstab of
what was mounted.  ``umount`` unmounts and detaches, ``cleanup`` releases
anything still held and removes the state folder, ``delete`` also deletes
the image files.  ``getval`` answers questions about the build at any
time.  See README.rst.
"""
