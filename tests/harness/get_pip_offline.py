"""Stand-in for the pip bootstrap script ansible-test downloads before each sanity venv.

ansible-test fetches ``get-pip-<version>.py`` from a host that test machines here cannot reach,
and looks for it first in ``~/.ansible/test/cache/``. This file is installed there by
``tests/harness/run-tests.sh``. It does what the real script does for ansible-test: put pip into
the running interpreter (from the wheel that CPython bundles in ``ensurepip``), then install the
packages it was given (``pip==X`` and friends) through pip's configured package index.
"""

import subprocess
import sys


def main():
    # In a child process: ensurepip blanks pip's configuration (index, CA file) in the process
    # that runs it, and the install below needs that configuration.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    main()
