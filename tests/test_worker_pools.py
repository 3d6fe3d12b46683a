"""nnU-Net's spawn pools come from one preloaded forkserver inside ``preloaded_worker_pools``, and only there."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os

import pytest

from xtiny.nnunet.worker_pools import forkserver_available, preloaded_worker_pools

pytestmark = pytest.mark.skipif(not forkserver_available(), reason="no forkserver start method on this platform")


def _environment_value(name: str) -> str | None:
    return os.environ.get(name)


def _worker_has_torch(_: int) -> bool:
    import sys

    return "torch" in sys.modules


def test_spawn_requests_are_served_by_the_forkserver_only_inside_the_block() -> None:
    assert multiprocessing.get_context("spawn").get_start_method() == "spawn"
    with preloaded_worker_pools():
        assert multiprocessing.get_context("spawn").get_start_method() == "forkserver"
        assert multiprocessing.get_context("fork").get_start_method() == "fork"  # other methods are left alone
        with preloaded_worker_pools():
            pass
        assert multiprocessing.get_context("spawn").get_start_method() == "forkserver"  # the outer block holds
    assert multiprocessing.get_context("spawn").get_start_method() == "spawn"


def _server_pid() -> int | None:
    return multiprocessing.forkserver._forkserver._forkserver_pid


def test_workers_are_preloaded_and_each_block_sees_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTINY_POOL_PROBE", "first")
    with preloaded_worker_pools(), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_worker_has_torch, [0]) == [True]  # forked from the server that imported torch
        assert pool.map(_environment_value, ["XTINY_POOL_PROBE"]) == ["first"]
    first = _server_pid()
    assert first is not None  # kept after the block
    with preloaded_worker_pools(), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_environment_value, ["XTINY_POOL_PROBE"]) == ["first"]
    assert _server_pid() == first  # same environment: the same server, no second import of torch
    monkeypatch.setenv("XTINY_POOL_PROBE", "second")
    with preloaded_worker_pools(), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_environment_value, ["XTINY_POOL_PROBE"]) == ["second"]  # a new server, today's env
    assert _server_pid() not in (None, first)
    monkeypatch.setenv("XTINY_POOL_PROBE", "third")
    with preloaded_worker_pools():
        monkeypatch.setenv("XTINY_POOL_PROBE", "fourth")  # changed inside the block, before the first pool opens
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.map(_environment_value, ["XTINY_POOL_PROBE"]) == ["fourth"]
    with preloaded_worker_pools(), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_environment_value, ["XTINY_POOL_PROBE"]) == ["fourth"]  # the server knows its own env


def test_an_error_inside_the_block_restores_spawn() -> None:
    with pytest.raises(RuntimeError), preloaded_worker_pools():
        raise RuntimeError("boom")
    assert multiprocessing.get_context("spawn").get_start_method() == "spawn"
