"""Make ``ansible_collections.sipstack.kamailio`` importable for every pytest layer."""

import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_COLLECTIONS = subprocess.run(
    ["bash", str(_ROOT / "tests" / "harness" / "collection.sh")],
    check=True,
    capture_output=True,
    text=True,
).stdout.strip()
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
