"""Plugin and node base classes, and the stevedore loader.

A *plugin* is one kind of config entry (``local_loop``, ``mkfs``...),
registered under the entry-point namespace
``diskimage_builder.block_device.plugin``; the entry-point name is the key
used in the YAML.  It owns a JSON schema for its options and turns one
flattened entry into one or more *nodes*.

A *node* is one real thing the build creates: an image file with its loop
device, a partition table, a partition, a filesystem, a mount.  Its
``create`` journals each resource (``ctx.hold``) before acquiring it; the
release of every kind of resource lives in :mod:`resources`, so teardown
needs nothing but the state file.
"""
from diskimage_builder.block_device.errors import ConfigError

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
                     'description': 'a name of 1 to 64 characters, none of '
                                    'them a control character'}
BASE_SCHEMA = LOOSE_NAME_SCHEMA


# What a node provides to the nodes built on it.
BLOCK_DEVICE = 'block-device'   # a device node children can use as base
FILESYSTEM = 'filesystem'       # a filesystem (or swap area)
MOUNT = 'mount'                 # a mount point of the image


class Node:
    """One node of the graph; built at init, rebuilt from JSON later."""

    kind = None          # key of the node class within its plugin
    level = None         # 0 for the nodes that provide a disk
    provides = frozenset()

    def __init__(self, plugin, name, path, deps, options, facts=None):
        self.plugin = plugin
        self.name = name
        self.path = path
        self.deps = list(deps)
        self.options = options
        # Static facts the init phase works out (label, mount point...):
        # getval reads them without importing any plugin.
        self.facts = facts or {}

    def to_json(self):
        return {'plugin': self.plugin, 'kind': self.kind, 'name': self.name,
                'path': self.path, 'deps': self.deps, 'level': self.level,
                'options': self.options, 'facts': self.facts}

    @classmethod
    def from_json(cls, spec):
        return cls(spec['plugin'], spec['name'], spec['path'], spec['deps'],
                   spec['options'], spec['facts'])

    # -- init: whole-config checks ---------------------------------------
    def link(self, graph):
        """Add dependencies that only the whole graph reveals."""

    def validate(self, graph, params):
        """Raise ConfigError for anything wrong with this node in *graph*."""

    def identifiers(self):
        """Identifiers the config gives this node that must be unique in
        the image, as (namespace, normalised value, YAML path): a
        filesystem UUID, a PARTUUID, a device-mapper name.  init refuses
        two nodes with the same one."""
        return []

    # -- create ---------------------------------------------------------
    def tools(self, params):
        """Host commands this node runs: {command: Debian package}."""
        return {}

    def plan(self, pctx):
        """Work out sizes and offsets with no side effect (may raise)."""

    def claims(self):
        """Host-wide names this node takes, as (kind, name) pairs: an image
        path, a VG, mapper or md name.  create claims them all before
        anything else, so two builds can never share one."""
        return []

    def held_resources(self, params):
        """The journal entries (kind, args) this node would hold once
        created: ``cleanup --from-system`` releases them when the state
        file is lost or damaged."""
        return []

    def preflight(self, runner, params):
        """Read-only checks of the host right before create (a VG or
        mapper name already taken...); raise UsageError to refuse.  May
        return lines saying what was checked (``create --check`` prints
        them)."""

    def preflight_commands(self, pctx):
        """The read-only commands ``preflight`` will run, as
        :func:`command` entries (``plan`` lists them)."""
        return []

    def commands(self, pctx):
        """The commands ``create`` will run for this node, in order, as
        :func:`command` entries.  Build them with the same argv functions
        ``create`` uses, giving ``pctx.device(name)`` where create gives
        ``ctx.device(name)``: the plan then says exactly what create
        does."""
        return []

    def create(self, ctx):
        raise NotImplementedError(
            '%s node %s has no create step' % (self.plugin, self.name))


class Plugin:
    """A config entry type: schema, children, node expansion."""

    SCHEMA = {'type': 'object'}
    NODE_TYPES = ()

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


# What plan shows for a value only create knows (a loop device, a
# partition node, a mapper node): planned and run commands are compared
# with each placeholder matching one value, the same value everywhere.
PLACEHOLDER = '<device of %s>'
PLACEHOLDER_PATTERN = r'<device of [A-Za-z0-9_.+:-]+>'


def placeholder(name):
    return PLACEHOLDER % name


def command(argv, when=None):
    """A planned command; *when* says what makes a conditional one run
    (it may then be absent from what create ran)."""
    entry = {'argv': [str(arg) for arg in argv]}
    if when:
        entry['when'] = when
    return entry


def earlier(graph, node):
    """The nodes created before *node* (*graph* is in creation order)."""
    for other in graph.values():
        if other is node:
            return
        yield other


def as_list(value):
    """A ``base`` may be one name or a list of names."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
