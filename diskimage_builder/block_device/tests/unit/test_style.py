"""The code keeps to PEP 8 (flake8, as tox -e pep8 runs it)."""
import importlib.util
import os
import subprocess
import sys

import testtools

from diskimage_builder.block_device.tests.support.compat import REPO


class TestStyle(testtools.TestCase):

    def need(self, module):
        """A module of test-requirements.txt: missing, the test fails."""
        if importlib.util.find_spec(module) is None:
            self.fail('%s is not installed: pip install -r '
                      'test-requirements.txt (tools/run-tests does)'
                      % module)

    def test_flake8_is_clean(self):
        self.need('flake8')
        proc = subprocess.run(
            [sys.executable, '-m', 'flake8', 'diskimage_builder', 'bench'],
            cwd=REPO, capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_readme_renders_without_warnings(self):
        self.need('docutils')
        import docutils.core
        import io
        errors = io.StringIO()
        with open(os.path.join(REPO, 'README.rst')) as src:
            docutils.core.publish_string(
                src.read(), writer_name='null', settings_overrides={
                    'report_level': 2, 'warning_stream': errors})
        self.assertEqual('', errors.getvalue())
