"""The plugins' schemas are the documentation of their options: every
option of every plugin this package defines has a description, and the
README's option tables are exactly what schemadoc makes of them."""
import difflib
import importlib
import os
import pkgutil
import re

import fixtures

from diskimage_builder import block_device
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import schemadoc
from diskimage_builder.block_device.tests.support.compat import REPO
from diskimage_builder.block_device.tests.support.fakes import TestCase

README = os.path.join(REPO, 'README.rst')


def package_modules(package=block_device):
    """Every module of the package but the tests and ``__main__`` (which
    would run the command line)."""
    for info in pkgutil.iter_modules(package.__path__,
                                     package.__name__ + '.'):
        if info.name.rpartition('.')[2] in ('tests', '__main__'):
            continue
        module = importlib.import_module(info.name)
        yield module
        if info.ispkg:
            yield from package_modules(module)


def package_plugins():
    """Every plugin class the package defines, found in its modules
    rather than through the entry points (an unregistered one counts)."""
    return {value for module in package_modules()
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, plugin.Plugin)
            and value is not plugin.Plugin
            and value.__module__ == module.__name__}


def read_readme():
    with open(README, encoding='utf-8') as src:
        return src.read()


class Described(plugin.Plugin):
    SCHEMA = {'description': 'A thing.', 'type': 'object', 'properties': {
        'size': {'type': 'string', 'description': 'How big it is.'}}}


class TestReadme(TestCase):

    def test_option_tables_are_what_the_schemas_give(self):
        text = read_readme()
        made = schemadoc.regenerate(text)
        if made != text:
            diff = ''.join(difflib.unified_diff(
                text.splitlines(True), made.splitlines(True),
                'README.rst', 'from the schemas', n=1))
            self.fail('README.rst\'s option tables differ from the plugins\' '
                      'schemas: run "%s" in %s\n%s'
                      % (schemadoc.COMMAND, REPO, diff))

    def test_every_plugin_of_the_package_has_its_table(self):
        names = re.findall(r'^\.\. options: (\S+)$', read_readme(), re.M)
        self.assertEqual(len(names), len(set(names)), names)
        tabled = {plugin.load(name) for name in names}
        self.assertEqual(set(), package_plugins() - tabled)
        self.assertEqual(set(), tabled - package_plugins())


class TestSchemas(TestCase):

    def test_the_package_has_its_plugins(self):
        # A walk that found nothing would pass the next test vacuously.
        self.assertGreaterEqual(len(package_plugins()), 9)

    def test_every_option_is_described(self):
        missing = {}
        for cls in package_plugins():
            where = '%s.%s' % (cls.__module__, cls.__qualname__)
            gaps = schemadoc.undescribed(cls.SCHEMA)
            if not cls.SCHEMA.get('description'):
                gaps.insert(0, '(the plugin)')
            if gaps:
                missing[where] = gaps
        self.assertEqual({}, missing, 'give these options a description '
                         'in the schema')


class TestSchemadoc(TestCase):

    def load(self, name):
        return Described if name == 'thing' else None

    def test_a_block_is_made_anew_and_the_rest_kept(self):
        text = ('Intro.\n\n.. options: thing\n\nstale\n\n'
                '.. end of options\n\nAfter.\n')
        self.assertEqual(
            'Intro.\n\n.. options: thing\n\nA thing.\n\n'
            '======== ==================================================='
            '==================\n'
            '``size`` How big it is.\n'
            '======== ==================================================='
            '==================\n\n.. end of options\n\nAfter.\n',
            schemadoc.regenerate(text, self.load))

    def test_an_unclosed_block_or_unknown_plugin_is_refused(self):
        for text, message in [
                ('.. options: thing\ntext\n', "line 1: no '.. end of"),
                ('.. options: thing\n.. options: thing\n.. end of options\n',
                 "line 1: no '.. end of options' before the next block"),
                ('x\n.. options: other\n.. end of options\n',
                 "line 2: no plugin 'other' is registered")]:
            err = self.assertRaises(schemadoc.SchemaDocError,
                                    schemadoc.regenerate, text, self.load)
            self.assertIn(message, str(err))

    def test_an_option_without_description_is_refused(self):
        class Bare(plugin.Plugin):
            SCHEMA = {'description': 'x', 'properties': {
                'items': {'type': 'array', 'description': 'y', 'items': {
                    'properties': {'size': {'type': 'string'}}}}}}
        self.assertEqual(['items[].size'],
                         schemadoc.undescribed(Bare.SCHEMA))
        err = self.assertRaises(schemadoc.SchemaDocError, schemadoc.render,
                                'bare', Bare)
        self.assertEqual('plugin bare: no description for items[].size',
                         str(err))

    def test_check_reports_and_the_command_rewrites(self):
        folder = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(folder, 'README.rst')
        with open(path, 'w') as out:
            out.write('.. options: local_loop\n.. end of options\n')
        self.assertEqual(1, schemadoc.main(['--check', path]))
        self.assertEqual(0, schemadoc.main([path]))
        self.assertEqual(0, schemadoc.main(['--check', path]))
        with open(path) as src:
            self.assertIn('``block_size``', src.read())
