"""Host tools the tests run themselves (not through the package), found
where a user's PATH may not look, and a missing one named with the Debian
package that has it: a test that needs one fails, it is never skipped."""
import os
import shutil

SBIN = os.pathsep.join(('/usr/sbin', '/sbin'))


def find_tool(name):
    """The path of tool *name*: from PATH, or from sbin (absent from a
    user's PATH on some systems); None when it is not installed."""
    return shutil.which(name) or shutil.which(name, path=SBIN)


def missing(tools):
    """None when every tool of *tools* ({tool: Debian package}) is
    installed, else a message naming the missing ones and how to get
    them."""
    absent = sorted(tool for tool in tools if find_tool(tool) is None)
    if not absent:
        return None
    packages = sorted({tools[tool] for tool in absent})
    return ('%s not installed: apt-get install %s (tools/run-tests '
            'installs them)' % (', '.join(absent), ' '.join(packages)))
