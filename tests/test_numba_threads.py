"""NUMBA_NUM_THREADS: a value Numba would choke on is one line before Numba is imported."""

import pytest

from scratchdream.errors import UserError
from scratchdream.numba_threads import MAX_THREADS, check_numba_threads


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "2.5", "1e3", str(MAX_THREADS + 1), "100000"])
def test_a_value_numba_cannot_use_is_one_line_that_says_what_works(text):
    with pytest.raises(
        UserError,
        match=rf"^NUMBA_NUM_THREADS={text!r} does not work: set it to a whole number from 1 to 1024 ",
    ) as err:
        check_numba_threads({"NUMBA_NUM_THREADS": text})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "environ", [{}, {"NUMBA_NUM_THREADS": "1"}, {"NUMBA_NUM_THREADS": " 4 "}, {"NUMBA_NUM_THREADS": "1024"}]
)
def test_unset_or_a_whole_number_in_range_passes(environ):
    assert check_numba_threads(environ) is None
