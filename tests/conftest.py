import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def single_threaded_blas():
    """Small matrices: on a shared 2-core machine a multi-threaded BLAS only spins (3x slower tests).

    Opt in per module with ``pytestmark = pytest.mark.usefixtures("single_threaded_blas")``.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
