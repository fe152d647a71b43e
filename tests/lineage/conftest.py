"""Lineage tests: make the helper modules next to this file importable (also in spawned workers).

The project runs pytest with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; ``multiprocessing`` spawn children inherit the parent's ``sys.path``.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
