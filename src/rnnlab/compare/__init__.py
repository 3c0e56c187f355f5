"""``rnnlab compare``: every claim of the guide beside a measurement and a verdict.

One module per section: :mod:`.params` (1), :mod:`.timing` (2), :mod:`.memory` (3),
:mod:`.longmem` (4, with the training jobs in :mod:`.sweep`), :mod:`.gradflow` (5),
:mod:`.gpu` (6), :mod:`.apps` (7); :mod:`.runner` runs them and :mod:`.report` and
:mod:`.figures` write the results.
"""

from .config import CompareConfig, make_config
from .runner import run_compare, strip_timings

__all__ = ["CompareConfig", "make_config", "run_compare", "strip_timings"]
