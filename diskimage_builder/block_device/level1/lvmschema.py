"""The options of an ``lvm`` entry: what config checks them against, and
the one place each is described (the README's tables are made from
these schemas, see :mod:`schemadoc`)."""
from diskimage_builder.block_device import plugin

OPTIONS_SCHEMA = {'anyOf': [
    {'type': 'string'},
    {'type': 'array', 'items': {'type': 'string'}}],
    'x-expected': 'extra pvcreate, vgcreate or lvcreate options, a string '
                  '(split as a shell would) or a list: options only, no '
                  'device, PV or VG operand, no --devices, --devicesfile '
                  'or --config'}

NAMES_SCHEMA = {'anyOf': [plugin.BASE_SCHEMA, {
    'type': 'array', 'items': plugin.BASE_SCHEMA, 'uniqueItems': True}]}

PV_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['name', 'base'],
    'properties': {
        'name': plugin.documented(
            plugin.LOOSE_NAME_SCHEMA, 'Required.  The PV\'s node name, '
            'which VGs name in their ``base``.'),
        'base': plugin.documented(
            plugin.BASE_SCHEMA, 'Required.  The block device the PV is '
            'made on (a partition, disk, LUKS mapping or md array; not an '
            'LV).'),
        'options': plugin.documented(
            OPTIONS_SCHEMA, 'Extra ``pvcreate`` options, a string '
            '(split as a shell would) or a list.  Options only: no device '
            'operand, no ``--devices``, ``--devicesfile`` or ``--config`` '
            '(the build gives those, to keep LVM to the image\'s PVs).'),
    },
}

VG_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['name', 'base'],
    'properties': {
        'name': plugin.documented(
            plugin.NAME_SCHEMA, 'Required.  The VG name in the image, and '
            'the node name LVs use as ``base``; not a name ``/dev`` '
            'already holds (``mapper``, ``disk``, ``sda``...).'),
        'base': plugin.documented(
            NAMES_SCHEMA, 'Required.  One PV name or a list of them.'),
        'options': plugin.documented(
            OPTIONS_SCHEMA, 'Extra ``vgcreate`` options (``-s 8M`` '
            'sets the extent size), as for PVs: no PV or VG operand.'),
    },
}

LV_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['name', 'base'],
    'properties': {
        'name': plugin.documented(
            plugin.NAME_SCHEMA, 'Required.  The LV name, and the node name '
            'children use as ``base``; the device is ``/dev/<vg>/<lv>``.  '
            'Names LVM reserves (starting ``snapshot`` or ``pvmove``, '
            'holding ``_tdata``, ``_rimage``...) and device-mapper names '
            'over 127 characters are refused.'),
        'base': plugin.documented(plugin.BASE_SCHEMA,
                                  'Required.  The VG name.'),
        'size': {'type': ['string', 'integer'], 'description':
                 'The size, as diskimage-builder reads it (``1800M`` is '
                 '1.8*10^9 bytes, ``2GiB`` 2*2^30, a bare number bytes), '
                 'rounded down to 4 MiB, at least 4 MiB; a thin LV\'s '
                 'virtual size.  Give ``size`` or ``extents``.'},
        'extents': {'type': ['string', 'integer'], 'description':
                    'The size in extents: ``N``, ``N%VG``, ``N%PVS`` or '
                    '``N%FREE`` (at most 100%).  Not for a thin LV.'},
        'type': {'enum': ['thin-pool', 'thin'], 'description':
                 '``thin-pool`` (a pool for thin LVs) or ``thin`` (a thin '
                 'LV in ``thin-pool``).  Default: a plain LV.'},
        'thin-pool': plugin.documented(
            plugin.NAME_SCHEMA, 'For ``type: thin``: the pool LV, in the '
            'same VG.'),
        'options': plugin.documented(
            OPTIONS_SCHEMA, 'Extra ``lvcreate`` options, as for PVs: '
            'no operand, and none of those the LV\'s keys make (``-n``, '
            '``-L``, ``-l``, ``-V``, ``--thinpool``).'),
    },
}

SCHEMA = {
    'description': 'LVM physical volumes, volume groups and logical '
                   'volumes, each of them a node.  Compatible with '
                   'diskimage-builder\'s configs.',
    'type': 'object',
    'additionalProperties': False,
    'required': ['pvs', 'vgs', 'lvs'],
    'properties': {
        'name': plugin.documented(
            plugin.NAME_SCHEMA, 'Optional; not a node other entries '
            'can use.'),
        'base': {'description': 'Optional and ignored, as '
                 'diskimage-builder ignores it (its own configs name '
                 'the partition table here).'},
        'pvs': {'type': 'array', 'minItems': 1, 'items': PV_SCHEMA,
                'description': 'Required: the physical volumes, at '
                'least one.'},
        'vgs': {'type': 'array', 'minItems': 1, 'items': VG_SCHEMA,
                'description': 'Required: the volume groups, at least '
                'one.'},
        'lvs': {'type': 'array', 'items': LV_SCHEMA, 'description':
                'Required: the logical volumes, made in this order '
                '(the list may be empty).'},
    },
}
