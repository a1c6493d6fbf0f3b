import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.ci_skips"]  # CI=1: a skip is a failure (tests/ci_skips.py)

# one thread: the tests run small batches, and on a shared 2-core machine two threads per process
# oversubscribe the cores (measured 6x slower under load)
torch.set_num_threads(1)


@pytest.fixture
def tmp_params(tmp_path):
    """A parameters/ directory with one small module CSV, for error-path tests."""
    directory = tmp_path / "parameters"
    (directory / "scenarios").mkdir(parents=True)
    (directory / "toy.csv").write_text(
        "name,value,unit,distribution,low,high,description,source\n"
        "toy.rate,0.5,1/yr,lognormal,0.25,1.0,a rate,test\n"
        'toy.share,0.5,fraction,"beta(3,3)",0,1,a share,test\n'
        "toy.choice,-2,,choice(-5:0.25;-2:0.5;-1:0.25),,,a choice,test\n"
        "toy.level,3,,normal,2,4,a level,test\n"
    )
    return directory
