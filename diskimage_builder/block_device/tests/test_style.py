"""The code keeps to PEP 8 (flake8, as tox -e pep8 runs it)."""
import importlib.util
import os
import subprocess
import sys

import testtools

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))


class TestStyle(testtools.TestCase):

    @testtools.skipIf(importlib.util.find_spec('flake8') is None,
                      'flake8 is not installed (test-requirements.txt)')
    def test_flake8_is_clean(self):
        proc = subprocess.run(
            [sys.executable, '-m', 'flake8', 'diskimage_builder', 'bench'],
            cwd=REPO, capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
