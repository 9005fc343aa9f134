"""The test tree keeps its shape: every test module lives in a tier's
folder (unit, host, vm), support/ holds no tests, and no module of the
tree imports a test module (what two modules share belongs in support/).
Read with ast; nothing is imported."""
import ast
import os

import testtools

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'diskimage_builder.block_device.tests'
TIERS = ('unit', 'host', 'vm')
# Besides test modules: package markers and pytest's per-folder fixtures.
NOT_TESTS = ('__init__.py', 'conftest.py')


def python_files():
    """(path relative to tests/, dotted module name) of every module."""
    for folder, dirs, files in os.walk(TESTS):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(files):
            if name.endswith('.py'):
                relative = os.path.relpath(os.path.join(folder, name),
                                           TESTS)
                dotted = relative[:-3].replace(os.sep, '.')
                yield relative, PACKAGE + '.' + dotted


def is_test_module(module):
    return module.rpartition('.')[2].startswith('test_')


def imported_modules(tree, module):
    """Every module *module*'s source may import (for ``from X import
    name``, both X and X.name), relative imports resolved."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = module.split('.')[:-node.level]
                base = '.'.join(parent + ([base] if base else []))
            found.add(base)
            found.update(base + '.' + alias.name for alias in node.names)
    return found


def imports_of_test_modules(source, module):
    return sorted(name for name in imported_modules(ast.parse(source),
                                                    module)
                  if name.startswith(PACKAGE + '.') and
                  is_test_module(name) and name != module)


def defined_tests(tree):
    """Names of the test functions and test methods *tree* defines."""
    return sorted(node.name for node in ast.walk(tree)
                  if isinstance(node, (ast.FunctionDef,
                                       ast.AsyncFunctionDef)) and
                  node.name.startswith('test'))


class TestLayoutOfTests(testtools.TestCase):

    def test_test_modules_live_in_a_tier_folder(self):
        misplaced = []
        tiers = set()
        for relative, _ in python_files():
            folder, name = os.path.split(relative)
            in_support = folder == 'support' or \
                folder.startswith('support' + os.sep)
            if name in NOT_TESTS and (folder in ('',) + TIERS or in_support):
                continue
            if in_support and not name.startswith('test'):
                continue
            if folder in TIERS and name.startswith('test_'):
                tiers.add(folder)
                continue
            misplaced.append(relative)
        self.assertEqual([], misplaced,
                         'test modules go in unit/, host/ or vm/; shared '
                         'code in support/ (named not test*)')
        self.assertEqual(set(TIERS), tiers)

    def test_support_holds_no_tests(self):
        found = {}
        for relative, _ in python_files():
            if relative.startswith('support' + os.sep):
                with open(os.path.join(TESTS, relative)) as src:
                    names = defined_tests(ast.parse(src.read()))
                if names:
                    found[relative] = names
        self.assertEqual({}, found, 'a test in support/ runs in no tier, '
                         'or in every tier that imports it')

    def test_no_module_imports_a_test_module(self):
        found = {}
        for relative, module in python_files():
            with open(os.path.join(TESTS, relative)) as src:
                names = imports_of_test_modules(src.read(), module)
            if names:
                found[relative] = names
        self.assertEqual({}, found, 'move what they share to support/')

    def test_the_import_check_sees_each_spelling(self):
        here = PACKAGE + '.vm.test_vm_a'
        for source in (
                'from %s.vm import test_vm_b as deep' % PACKAGE,
                'from %s.vm.test_vm_b import deep_build' % PACKAGE,
                'import %s.vm.test_vm_b' % PACKAGE,
                'from . import test_vm_b',
                'from .test_vm_b import deep_build',
                'def f():\n    from .test_vm_b import x\n'):
            self.assertEqual([PACKAGE + '.vm.test_vm_b'],
                             imports_of_test_modules(source, here), source)
        self.assertEqual([], imports_of_test_modules(
            'from %s.support import harness\nfrom . import conftest\n'
            'import pytest' % PACKAGE, here))
        self.assertEqual(['test_a', 'test_b'], defined_tests(ast.parse(
            'def test_a():\n    pass\nclass C:\n    def test_b(self):\n'
            '        pass\n    def helper(self):\n        pass\n')))
