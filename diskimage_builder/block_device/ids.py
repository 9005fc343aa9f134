"""Identifiers the project chooses: random, or reproducible.

With ``DIB_BLOCK_DEVICE_SEED`` or ``SOURCE_DATE_EPOCH`` set, every
identifier chosen here (disk GUID and MBR disk id, partition UUIDs,
filesystem UUIDs, ext4's directory hash seed) is derived from the seed,
the node name and what the identifier is for, so two builds of the same
config give the same identifiers.  Identifiers set in the config win.
"""
import os
import uuid


def seed():
    return (os.environ.get('DIB_BLOCK_DEVICE_SEED') or
            os.environ.get('SOURCE_DATE_EPOCH') or None)


def make_uuid(node, purpose):
    """A version-4-shaped UUID: derived when seeded, random otherwise."""
    value = seed()
    if value is None:
        return uuid.uuid4()
    import hashlib      # OpenSSL's start-up is not worth paying unseeded
    digest = hashlib.sha256(('%s\0%s\0%s' % (value, node, purpose))
                            .encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def seeded():
    return seed() is not None
