"""Error types, each mapped to an exit status by the command line."""


class BlockDeviceError(Exception):
    """Base of the errors this tool reports without a traceback."""
    exit_status = 1


class ConfigError(BlockDeviceError):
    """The config or params are wrong; nothing was touched."""
    exit_status = 2

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__('%s: %s' % (path, message) if path else message)


class UsageError(BlockDeviceError):
    """The command line, the environment or the host is not fit to run."""
    exit_status = 2


class StateError(BlockDeviceError):
    """The state folder is missing, damaged or from another version."""
    exit_status = 3
