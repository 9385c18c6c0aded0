import pytest

from fruits.packing import MAX_PARTITION_BYTES, OPEN_COST, count_based_settings, files_per_task


def simulate_next_fit(sizes: list[int], settings: dict[str, str]) -> list[int]:
    """Files per task as Spark's FilePartition packs them (next fit over sizes, largest first)."""
    cost, limit = int(settings[OPEN_COST]), int(settings[MAX_PARTITION_BYTES])
    tasks, current, count = [], 0, 0
    for size in sorted(sizes, reverse=True):
        if count and current + size > limit:
            tasks.append(count)
            current, count = 0, 0
        current += size + cost
        count += 1
    return tasks + ([count] if count else [])


@pytest.mark.parametrize("sizes, per_task, expected", [
    ([5_000] * 10, 3, [3, 3, 3, 1]),
    ([1, 10_000_000, 3, 4, 5_000, 7, 8], 2, [2, 2, 2, 1]),  # one large file does not get a task of its own
    ([100] * 64, 64, [64]),
    ([0, 0, 1], 1, [1, 1, 1]),
])
def test_tasks_hold_the_asked_number_of_files_whatever_their_sizes(sizes, per_task, expected):
    assert simulate_next_fit(sizes, count_based_settings(per_task, max(sizes))) == expected


def test_files_per_task_covers_every_file_in_at_most_the_asked_tasks():
    for files, tasks in [(2000, 32), (34, 8), (7, 7), (1, 4)]:
        per = files_per_task(files, tasks)
        assert -(-files // per) <= tasks and per * tasks >= files


@pytest.mark.parametrize("files, tasks", [(0, 2), (5, 0)])
def test_files_per_task_refuses_empty_inputs(files, tasks):
    with pytest.raises(ValueError, match="at least one"):
        files_per_task(files, tasks)
