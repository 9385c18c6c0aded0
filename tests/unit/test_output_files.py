import pytest

from fruits.job import output_files


@pytest.mark.parametrize("rows, cores, files", [
    (1, 2, 1), (999, 8, 1), (2000, 2, 2), (2000, 8, 2), (8000, 8, 8), (90_483, 2, 5), (200_000, 16, 16),
])
def test_one_file_per_20000_rows_but_every_core_writes_from_1000_rows_on(rows, cores, files):
    assert output_files(rows, cores) == files
