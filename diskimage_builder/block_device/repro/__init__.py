"""Reproducible builds: the seed and the epoch, read once and passed
explicitly (``ctx.repro``), and what each makes of a build.

``DIB_BLOCK_DEVICE_SEED`` (or ``build --seed``) derives every identifier
this tool chooses from the seed, the node name and what the identifier
is for, instead of drawing it at random: the GPT disk GUID or MBR disk
id, partition UUIDs, filesystem UUIDs (vfat volume ids too), ext's
directory hash seed, and a verity hash tree's salt and UUID;
identifiers written in the config win.
``SOURCE_DATE_EPOCH`` seeds the same way when no seed is given, gives
e2fsprogs its clock, and has the times the kernel writes into mounted
ext and vfat filesystems undone at unmount (:mod:`.times`), so one tree
gives one image, byte for byte.
"""
import dataclasses
import os
import uuid

SEED_ENV = 'DIB_BLOCK_DEVICE_SEED'
EPOCH_ENV = 'SOURCE_DATE_EPOCH'


@dataclasses.dataclass(frozen=True)
class Repro:
    seed: str | None = None
    epoch: int | None = None

    @classmethod
    def from_environ(cls, environ=None, seed=None):
        """The seed (*seed* wins over the environment's) and the epoch of
        *environ* (default: this process's)."""
        environ = os.environ if environ is None else environ
        text = environ.get(EPOCH_ENV, '')
        epoch = int(text) if text.isdigit() else None
        return cls(seed or environ.get(SEED_ENV) or
                   (str(epoch) if epoch is not None else None), epoch)

    @property
    def seeded(self):
        return self.seed is not None

    def uuid(self, node, purpose):
        """A version-4-shaped UUID: derived when seeded, random
        otherwise."""
        if self.seed is None:
            return uuid.uuid4()
        return uuid.UUID(bytes=self._digest(node, purpose)[:16], version=4)

    def salt(self, node, purpose):
        """32 bytes in hex (a verity salt): derived when seeded, random
        otherwise."""
        if self.seed is None:
            return os.urandom(32).hex()
        return self._digest(node, purpose).hex()

    def _digest(self, node, purpose):
        import hashlib      # OpenSSL's start-up is not worth paying unseeded
        return hashlib.sha256(('%s\0%s\0%s' % (self.seed, node, purpose))
                              .encode()).digest()

    def env(self):
        """What the tools' own clocks read (e2fsprogs'), when there is an
        epoch."""
        return ({'E2FSPROGS_FAKE_TIME': str(self.epoch)}
                if self.epoch is not None else None)
