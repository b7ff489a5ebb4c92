"""ray_map on a local Ray instance: setup once per actor, items consumed lazily with a bounded
number in flight, a dead worker's item retried on a fresh actor, an item that keeps raising
reported failed while the others finish; without Ray, one error naming the extra."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from synthtumor.distributed import RayOptions, import_ray, ray_map
from synthtumor.errors import ConfigError


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dist]')")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


class _Square:
    """Built once per actor: leaves a file named after its process; squares items; dies (once) or
    raises on request."""

    def __init__(self, folder: str, die_on: int | None = None, raise_on: int | None = None) -> None:
        self.folder, self.die_on, self.raise_on = Path(folder), die_on, raise_on
        (self.folder / f"setup-{os.getpid()}").touch()

    def __call__(self, item: int) -> int:
        marker = self.folder / f"died-{item}"
        if item == self.die_on and not marker.exists():
            marker.touch()
            os._exit(3)
        if item == self.raise_on:
            raise ValueError(f"item {item} is\nbad")
        return item * item


def _run(factory, items, total, **options):
    done, failed = {}, []
    ray_map(factory, items, total=total, on_done=done.__setitem__,
            on_failed=lambda item, error, attempts: failed.append((item, error, attempts)),
            options=RayOptions(**options), quiet=True)
    return done, failed


def test_each_actor_sets_up_once_and_every_item_is_done(ray_instance, tmp_path):
    done, failed = _run(functools.partial(_Square, str(tmp_path)), range(8), 8, workers=2)
    assert done == {i: i * i for i in range(8)} and failed == []
    assert len(list(tmp_path.glob("setup-*"))) == 2  # two actors, each built once for 8 items


def test_a_worker_that_dies_mid_item_is_replaced_and_the_item_retried(ray_instance, tmp_path):
    done, failed = _run(functools.partial(_Square, str(tmp_path), die_on=3), range(6), 6, workers=2, retries=1)
    assert done == {i: i * i for i in range(6)} and failed == []
    assert (tmp_path / "died-3").exists()
    assert len(list(tmp_path.glob("setup-*"))) == 3  # the dead actor's replacement was built


def test_an_item_that_keeps_failing_is_reported_once_and_the_rest_finish(ray_instance, tmp_path):
    done, failed = _run(functools.partial(_Square, str(tmp_path), raise_on=2), range(5), 5, workers=2, retries=2)
    assert done == {i: i * i for i in (0, 1, 3, 4)}
    assert len(failed) == 1
    item, error, attempts = failed[0]
    assert item == 2 and attempts == 3 and error == "ValueError: item 2 is bad"


def test_items_are_pulled_lazily_and_at_most_max_in_flight_run_at_once(ray_instance, tmp_path):
    pulled, finished, most = [], [], []

    def items():
        for i in range(6):
            most.append(len(pulled) - len(finished))  # in flight when the next item is pulled
            pulled.append(i)
            yield i

    def done(item, result):
        assert len(pulled) - len(finished) <= 2  # never more than max_in_flight submitted and unfinished
        finished.append(item)

    ray_map(functools.partial(_Square, str(tmp_path)), items(), total=6, on_done=done,
            on_failed=lambda *a: None, options=RayOptions(workers=4, max_in_flight=2), quiet=True)
    assert sorted(finished) == list(range(6)) and max(most) <= 1  # the next item is pulled once a slot is free


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"synthtumor\[dist\]"):
        import_ray()


@pytest.mark.parametrize("bad", [dict(workers=0), dict(cpus_per_task=0), dict(gpus_per_task=-1), dict(retries=-1),
                                 dict(max_in_flight=0)])
def test_out_of_range_options_are_refused(bad):
    with pytest.raises(ConfigError):
        RayOptions(**bad).check()


def _no_setup():
    raise ValueError("checkpoint /nowhere is not on this node")


def test_a_factory_that_fails_reports_its_error_for_each_item(ray_instance):
    done, failed = _run(_no_setup, range(2), 2, workers=1, retries=0)
    assert done == {} and sorted(failed) == [(i, "ValueError: checkpoint /nowhere is not on this node", 1)
                                             for i in range(2)]
