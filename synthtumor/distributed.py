"""Run a function over many items on Ray: a bounded number in flight, each item retried when its
worker dies or raises, one progress bar. The local process pool is :mod:`synthtumor.parallel`.

Each worker is a Ray actor built once from a factory (so an expensive setup, such as loading a
diffusion checkpoint, happens once per actor, not once per item) and then called with one item
at a time. Items are consumed lazily from an iterable: at most ``max_in_flight`` are submitted
and not yet finished, and each carries only what names its work (file paths, not volumes), so
the driver's memory does not grow with the number of items. An actor that dies (a crashed
process, the out-of-memory killer) is replaced by a new one and its item resubmitted; an item
whose call raised is resubmitted too; after ``retries`` extra attempts the item is reported
failed and the others go on.

Ray is the optional extra ``dist`` (``pip install 'synthtumor[dist]'``); this module imports it
only when called.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from synthtumor.errors import ConfigError, user_error_in

__all__ = ["RayOptions", "import_ray", "ray_cluster", "ray_map", "error_text"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run.

    Attributes:
        address: a running cluster (``auto`` or ``HOST:PORT``); None starts a local Ray instance
            for the run (``workers * cpus_per_task`` CPUs, all of the machine's when ``workers`` is
            None; the GPUs Ray finds) and shuts it down at the end.
        workers: actors (items at once); None: as many as the cluster's CPUs (and GPUs) allow.
        cpus_per_task: CPUs reserved by each actor (Ray's ``num_cpus``; may be fractional).
        gpus_per_task: GPUs reserved by each actor (Ray's ``num_gpus``; 0.5 puts two on one GPU).
        retries: extra attempts of an item after its first failure.
        max_in_flight: items submitted and not yet finished, at most (default: one per actor).
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    retries: int = 2
    max_in_flight: int | None = None

    def check(self) -> None:
        """Raises: ConfigError naming the first value out of range."""
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}.")
        if self.cpus_per_task <= 0 or self.gpus_per_task < 0:
            raise ConfigError(f"--cpus-per-task must be above 0 and --gpus-per-task at least 0, got "
                              f"{self.cpus_per_task} and {self.gpus_per_task}.")
        if self.retries < 0:
            raise ConfigError(f"--retries must be at least 0, got {self.retries}.")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigError(f"--max-in-flight must be at least 1, got {self.max_in_flight}.")


def import_ray():
    """The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed (it is the optional extra ``dist``).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray, which is not installed.",
                          fix="install synthtumor's optional extra dist: pip install 'synthtumor[dist]' "
                              "(or pip install ray), or use --backend local.") from None
    return ray


@contextlib.contextmanager
def ray_cluster(options: RayOptions, quiet: bool = False) -> Iterator[Any]:
    """Connect to ``options.address``, or start a local instance (shut down on exit); reuse a
    connection the caller already opened with ``ray.init`` (left open).

    Yields:
        The ``ray`` module, initialised.

    Raises:
        ConfigError: Ray is not installed, or no cluster answers at the address.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet,
                              "logging_level": logging.ERROR if quiet else logging.INFO}
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            workers = options.workers or os.cpu_count() or 1
            cpus = max(1, int(round(workers * options.cpus_per_task)))
            ray.init(num_cpus=cpus, **kwargs)  # GPUs: those Ray finds on this machine
    except ConnectionError as exc:
        raise ConfigError(f"no Ray cluster answers at --ray-address {options.address} ({exc}).",
                          fix="start one with `ray start --head` on the head node, or leave --ray-address out "
                              "to start a local instance.") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def error_text(exc: BaseException) -> str:
    """One line saying why a Ray call failed: the synthtumor error's own message where there is
    one, else the exception's type and message (Ray's traceback left out)."""
    cause = getattr(exc, "cause", None) or exc
    user = user_error_in(cause)
    text = str(user) if user is not None else f"{type(cause).__name__}: {cause}"
    if type(exc).__name__ in ("ActorDiedError", "RayActorError", "WorkerCrashedError"):
        text = f"the worker process died ({type(exc).__name__})"
    return " ".join(text.split())[:2000]


class _Runner:
    """The actor: builds ``factory()`` once, then calls it with one item per :meth:`run`. A
    factory that raises (a checkpoint this node cannot see) makes every call raise that error,
    so each item is reported with it rather than as a dead actor."""

    def __init__(self, factory: Callable[[], Callable[[Any], Any]], env: dict[str, str]) -> None:
        os.environ.update(env)
        self._fn: Callable[[Any], Any] | None = None
        self._setup_error: Exception | None = None
        try:
            self._fn = factory()
        except Exception as exc:  # noqa: BLE001 - raised again by every call
            self._setup_error = exc

    def run(self, item: Any) -> Any:
        if self._fn is None:
            raise self._setup_error
        return self._fn(item)


def _actor_count(ray, options: RayOptions, total: int) -> int:
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    fit = int(cpus // options.cpus_per_task)
    if options.gpus_per_task:
        fit = min(fit, int(gpus // options.gpus_per_task))
    if fit < 1:
        raise ConfigError(f"the Ray cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s), too few for one task of "
                          f"{options.cpus_per_task:g} CPU(s) and {options.gpus_per_task:g} GPU(s).",
                          fix="lower --cpus-per-task / --gpus-per-task, or add nodes to the cluster.")
    wanted = [fit, total, options.workers or fit, options.max_in_flight or fit]
    return max(1, min(wanted))


def ray_map(factory: Callable[[], Callable[[Any], Any]], items: Iterable[Any], *, total: int,
            on_done: Callable[[Any, Any], None], on_failed: Callable[[Any, str, int], None],
            options: RayOptions = RayOptions(), env: dict[str, str] | None = None, quiet: bool = False,
            desc: str = "", unit: str = "case") -> None:
    """Call ``factory()(item)`` for every item on Ray actors, in any order.

    Args:
        factory: picklable; called once in each actor to build the function that takes an item.
        items: picklable items, consumed lazily.
        total: the number of items (for the progress bar and the number of actors).
        on_done: called in this process with (item, result) as each item finishes.
        on_failed: called with (item, one-line error, attempts) for an item that failed
            ``options.retries + 1`` times.
        options: address, actors, resources per actor, retries, items in flight.
        env: environment variables set in each actor before ``factory`` runs.
        quiet: no progress bar and no Ray log lines.
        desc, unit: the bar's label and unit.

    Raises:
        ConfigError: Ray missing, no cluster at the address, or too few resources for one actor.
    """
    options.check()
    with ray_cluster(options, quiet=quiet) as ray:
        if total < 1:
            return
        remote = ray.remote(num_cpus=options.cpus_per_task, num_gpus=options.gpus_per_task, max_restarts=0,
                            max_task_retries=0)(_Runner)
        actors = [remote.remote(factory, dict(env or {})) for _ in range(_actor_count(ray, options, total))]
        _drive(ray, remote, actors, iter(items), factory, dict(env or {}), on_done, on_failed, options.retries,
               tqdm(total=total, desc=desc, unit=unit, disable=quiet))


def _drive(ray, remote, actors: list, items: Iterator[Any], factory, env, on_done, on_failed, retries: int,
           bar) -> None:
    """Keep each actor busy with one item; replace an actor that died; resubmit failed items."""
    idle, again = deque(actors), deque()  # again: (item, attempts so far)
    running: dict[Any, tuple[Any, int, Any]] = {}  # ObjectRef -> (item, attempt, actor)
    exhausted = False
    try:
        while True:
            while idle and (again or not exhausted):
                if again:
                    item, attempt = again.popleft()
                else:
                    try:
                        item, attempt = next(items), 1
                    except StopIteration:
                        exhausted = True
                        break
                actor = idle.popleft()
                running[actor.run.remote(item)] = (item, attempt, actor)
            if not running:
                return
            (ready,), _ = ray.wait(list(running), num_returns=1)
            item, attempt, actor = running.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as exc:
                if isinstance(exc, ray.exceptions.RayActorError):
                    ray.kill(actor, no_restart=True)
                    idle.appendleft(remote.remote(factory, env))  # the replacement takes the retry next
                else:
                    idle.append(actor)
                if attempt <= retries:
                    again.append((item, attempt + 1))
                    continue
                on_failed(item, error_text(exc), attempt)
            else:
                idle.append(actor)
                on_done(item, result)
            bar.update()
    finally:
        bar.close()
        for actor in list(idle) + [a for _, _, a in running.values()]:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
