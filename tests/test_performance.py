"""enable_fast_malloc (gptedu/performance.py): freed training buffers stay in the process for reuse."""

import os
import subprocess
import sys

import pytest

FREE_300_MIB = """
import os, torch
from gptedu.performance import enable_fast_malloc
applied = enable_fast_malloc()
def resident(): return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
x = torch.ones(300 * 2**20 // 4)  # 300 MiB, every page touched
before = resident()
del x
print(applied, round((before - resident()) / 2**20))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings exist only on Linux")
@pytest.mark.parametrize("opt_out", [False, True])
def test_fast_malloc_keeps_freed_memory_for_the_next_step(opt_out):
    env = {**os.environ, "GPTEDU_FAST_MALLOC": "0" if opt_out else "1"}
    out = subprocess.run([sys.executable, "-c", FREE_300_MIB], env=env, capture_output=True, text=True, check=True).stdout
    applied, returned_mib = out.split()
    if opt_out:  # glibc's default: a big buffer is its own mapping, returned to the system when freed
        assert applied == "False" and int(returned_mib) > 250, out
    else:  # served from the heap, which is never trimmed: the next step reuses the pages without faulting them in
        assert applied == "True" and int(returned_mib) < 30, out
