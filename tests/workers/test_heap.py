"""A computing process keeps its freed memory for the next job (`workers.heap`)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

JOBS = """
import resource, sys
import numpy as np
from workers.bots.compute import warm_up
from workers.heap import keep_heap

if sys.argv[1] == "warm_up":
    warm_up()
elif sys.argv[1] == "kept":
    assert keep_heap()

def job():  # an STFT block's temporaries: a few MB allocated, used, freed
    frames = np.ones((256, 2048))
    spectrum = np.fft.rfft(frames, axis=-1)
    return float(np.abs(spectrum.astype(np.complex64)).sum())

job()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    job()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    """Page faults of 20 jobs after a first one, in a fresh process set up by `mode`."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JOBS), mode],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the C library is not glibc")
def test_jobs_reuse_their_memory_once_the_heap_is_kept() -> None:
    # glibc's default maps each 4 MB block afresh: about 2,000 faults a job (8 MB touched).
    assert faults("default") > 20 * 1000
    assert faults("kept") < 100
    assert faults("warm_up") < 100  # the pool's initializer keeps it
