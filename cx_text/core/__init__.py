"""cx_text.core: settings, errors, schema, taxonomy and language data every stage shares.

Importing it (which ``import cx_text`` does before anything loads torch) shortens how long
torch's OpenMP threads busy-wait after each parallel region, unless the user set it: libgomp's
default (300,000 spins) let idle threads hold both cores of a 2-core machine while another busy
process — the language worker of the next chunk, a second run, the app — waited for one; two
concurrent `cx-text tag` runs of 5,000 rows took 198 s instead of ~52 s. With 20,000 spins they
take 50 s, and one run alone costs ~3 % (benchmarks/tagging.py, docs/ROADMAP.md §5). Set
``GOMP_SPINCOUNT`` (or ``OMP_WAIT_POLICY``) yourself to choose otherwise; it has no effect when
torch was imported before cx_text.
"""

import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")
