import pytest

from fruits.pipeline.waves import tasks_for, waves_for


@pytest.mark.parametrize("images, per_wave, waves", [(0, 10, 0), (1, 10, 1), (10, 10, 1), (11, 10, 2), (90_483, 16_384, 6)])
def test_waves_cover_every_image_in_the_fewest_waves_of_the_asked_size(images, per_wave, waves):
    assert waves_for(images, per_wave) == waves
    if images:
        assert (waves - 1) * per_wave < images <= waves * per_wave


@pytest.mark.parametrize("images, per_task, cores", [(2000, 64, 2), (34, 8, 8), (7, 7, 7), (1, 4, 4), (100_000, 64, 96)])
def test_tasks_fill_every_core_and_hold_about_the_asked_files(images, per_task, cores):
    tasks = tasks_for(images, per_task, cores)
    assert tasks <= images
    assert tasks % cores == 0 or tasks == images
    assert tasks >= images / per_task


@pytest.mark.parametrize("call", [lambda: waves_for(5, 0), lambda: tasks_for(5, 0, 2), lambda: tasks_for(5, 2, 0)])
def test_nonsense_sizes_are_refused(call):
    with pytest.raises(ValueError):
        call()
