"""The plugin base class and the stevedore loader.

A *plugin* is one kind of config entry (``local_loop``, ``mkfs``...),
registered under the entry-point namespace
``diskimage_builder.block_device.plugin``; the entry-point name is the key
used in the YAML.  It owns a JSON schema for its options (with a
``description`` for each: the schema is their documentation) and turns
one flattened entry into one or more *nodes* (:mod:`node`: the node
contract, re-exported here for plugin authors).

A schema's ``description`` is documentation only (the README's option
tables are made from it, see :mod:`schemadoc`).  What an error message
says a value should be is the JSON-schema extension keyword
``x-expected`` ("expected <x-expected>"), so the documentation can grow
without changing a single error message.
"""
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.node import BLOCK_DEVICE  # noqa: F401
from diskimage_builder.block_device.node import FILESYSTEM  # noqa: F401
from diskimage_builder.block_device.node import LVM_LV  # noqa: F401
from diskimage_builder.block_device.node import LVM_PV  # noqa: F401
from diskimage_builder.block_device.node import LVM_THIN_POOL  # noqa: F401
from diskimage_builder.block_device.node import LVM_VG  # noqa: F401
from diskimage_builder.block_device.node import MOUNT  # noqa: F401
from diskimage_builder.block_device.node import Node  # noqa: F401
from diskimage_builder.block_device.node import PARTITION  # noqa: F401
from diskimage_builder.block_device.node import PARTITION_TABLE  # noqa
from diskimage_builder.block_device.node import VERITY  # noqa: F401
from diskimage_builder.block_device.node import as_list  # noqa: F401
from diskimage_builder.block_device.node import dependents  # noqa: F401
from diskimage_builder.block_device.node import describe  # noqa: F401
from diskimage_builder.block_device.node import earlier  # noqa: F401
from diskimage_builder.block_device.node import stack_below  # noqa: F401

NAMESPACE = 'diskimage_builder.block_device.plugin'

# The names of image files, VGs, LVs, LUKS mappings and md arrays become
# file, device and device-mapper names: they keep to a set of characters
# that can escape nowhere.
NAME_PATTERN = r'^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$'
NAME_SCHEMA = {'type': 'string', 'pattern': NAME_PATTERN,
               'not': {'pattern': r'\.\.'}}
# Any other node's name (a partition, a filesystem, a mount) stays inside
# the config and the state; diskimage-builder takes any text there, and
# its own tests name a partition "Root Part".  No control characters.
LOOSE_NAME_SCHEMA = {'type': 'string',
                     'pattern': '^[^\x00-\x1f\x7f]{1,64}$',
                     'x-expected': 'a name of 1 to 64 characters, none of '
                                   'them a control character'}
BASE_SCHEMA = LOOSE_NAME_SCHEMA


def documented(schema, description):
    """A copy of a shared *schema* with this option's *description* (the
    README's option table is made from it); its ``x-expected`` error
    wording is kept."""
    return dict(schema, description=description)


class Plugin:
    """A config entry type: schema, children, node expansion."""

    SCHEMA = {'type': 'object'}
    NODE_TYPES = ()
    # List options whose items may hold nested entries (tree form): a
    # table's partitions, the LVs of an lvm entry.
    NESTED_ITEMS = ()

    @classmethod
    def split(cls, options, path, plugin_names):
        """Separate nested child entries from this entry's own options.

        Returns (own_options, children) where each child is
        (plugin_name, child_options, child_path, parent_name or None);
        None means "the node this entry creates".
        """
        own, children = {}, []
        for key, value in options.items():
            if key in plugin_names:
                children.append((key, value, '%s.%s' % (path, key), None))
            else:
                own[key] = value
        for key in cls.NESTED_ITEMS:
            cls.split_items(own, key, path, plugin_names, children)
        return own, children

    @classmethod
    def split_items(cls, own, key, path, plugin_names, children):
        """Nested children inside the items of list option *key* (the
        partitions of a table, the LVs of a VG): their parent is the item
        named by its ``name``."""
        items = own.get(key)
        if not isinstance(items, list):
            return
        stripped = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                stripped.append(item)
                continue
            keep, nested = Plugin.split(
                item, '%s.%s[%d]' % (path, key, index), plugin_names)
            stripped.append(keep)
            children.extend((n, o, p, keep.get('name'))
                            for n, o, p, _ in nested)
        own[key] = stripped

    @classmethod
    def default_name(cls, plugin, options):
        return '%s_%s' % (plugin, options.get('base'))

    @classmethod
    def expand(cls, plugin, options, path, params):
        """Turn one validated entry into its nodes."""
        raise NotImplementedError

    @classmethod
    def node_from_json(cls, spec):
        for node_type in cls.NODE_TYPES:
            if node_type.kind == spec['kind']:
                return node_type.from_json(spec)
        raise ConfigError(spec['path'], 'plugin %s has no node kind %r'
                          % (spec['plugin'], spec['kind']))


def load(name):
    """The plugin class registered as *name*, or None."""
    return load_many([name]).get(name)


def load_many(wanted):
    """{name: plugin class} for the *wanted* names that are registered,
    found in one scan of the entry points.

    A name may be registered twice: installed over diskimage-builder,
    its metadata and this package's both name ``lvm``, ``mkfs``...
    Entry points of one name that give the same class are one plugin;
    one that cannot be loaded is ignored when another of its name can;
    two different classes under one name are an error.
    """
    import stevedore
    failures = {}

    def failed(manager, entry_point, err):
        failures.setdefault(entry_point.name, []).append(
            '%s (%s)' % (entry_point.value, err))

    manager = stevedore.NamedExtensionManager(
        NAMESPACE, names=sorted(set(wanted)), invoke_on_load=False,
        on_load_failure_callback=failed)
    found = {}
    for ext in manager:
        other = found.setdefault(ext.name, ext.plugin)
        if other is not ext.plugin:
            raise ConfigError('', 'plugin %s is registered twice, as %s and '
                              'as %s: uninstall one of the packages'
                              % (ext.name, _target(other),
                                 _target(ext.plugin)))
    for name, reasons in sorted(failures.items()):
        if name not in found:
            raise ConfigError('', 'plugin %s cannot be loaded: %s'
                              % (name, '; '.join(reasons)))
    return found


def _target(cls):
    return '%s:%s' % (cls.__module__, cls.__qualname__)


def recorded(classes):
    """{name: "module:Class"} of loaded plugin classes.  init keeps it in
    config.json, so the later phases import exactly those classes without
    scanning every installed entry point again (stevedore and
    importlib.metadata cost more than the rest of a teardown)."""
    return {name: _target(cls) for name, cls in classes.items()}


def load_recorded(wanted, targets):
    """{name: plugin class} for *wanted* names: by the *targets* init
    recorded, else through the entry points.  A recorded target is
    imported only when it is a module of this package or what the entry
    points register under that name: config.json (edited by hand) must
    not make root import anything else."""
    import importlib
    found = {}
    for name in set(wanted):
        target = (targets or {}).get(name, '')
        module, _, attr = target.partition(':')
        if not attr or not (module.startswith(__package__ + '.') or
                            target in registered(name)):
            continue
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue        # moved since init: the entry points know
        if isinstance(cls, type) and issubclass(cls, Plugin):
            found[name] = cls
    rest = set(wanted) - set(found)
    if rest:
        found.update(load_many(rest))
    return found


def registered(name):
    """The targets ("module:Class") registered for plugin *name*."""
    from importlib import metadata
    eps = metadata.entry_points()
    group = (eps.select(group=NAMESPACE) if hasattr(eps, 'select')
             else eps.get(NAMESPACE, []))
    return {ep.value for ep in group if ep.name == name}


def names():
    """Every registered plugin name (imports nothing)."""
    from importlib import metadata
    eps = metadata.entry_points()
    group = (eps.select(group=NAMESPACE) if hasattr(eps, 'select')
             else eps.get(NAMESPACE, []))
    return sorted({ep.name for ep in group})
