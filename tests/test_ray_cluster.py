"""`--executor ray` on a real Ray cluster (issue 19): a head node started with `ray start --head` on 127.0.0.1,
2-job sweeps of 1-epoch trainings through `--ray-address`, a worker killed mid-training, and the bad inputs.

The head runs in its own mount namespace where ``hidden/`` (inside the session's nnU-Net folder) is covered by an
empty tmpfs: a real node that does not share that storage with the driver (root only; otherwise that test skips).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from xtiny.cli import main

# Set before Ray is imported (collection imports every test module before any test runs), for this process and the
# clusters it starts: nodes and drivers on 127.0.0.1, not the machine's network address (Ray reads that at import);
# no token auth (else the first local instance writes ~/.ray/auth_token and every later head node requires it);
# the default temp folder of a local instance in a folder of this session, not /tmp/ray.
os.environ.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                   "RAY_TMPDIR": tempfile.mkdtemp(prefix="xrt-", dir="/tmp")})
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # installed with ray
pytestmark = pytest.mark.timeout(600)  # a Ray hang fails the test instead of stalling the suite
BUDGET = ["--epochs", "1", "--iterations", "3", "--val-iterations", "0", "--backend", "monai"]
CAPS = ["--caps", "4,2", "--no-base"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    """A running `ray start --head --block` process group (ours alone: stopped by its ids, never `ray stop`)."""

    def __init__(self, work: Path, hidden: Path) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                   "--node-ip-address", "127.0.0.1", "--port", str(self.port), "--num-cpus", "2", "--num-gpus", "0",
                   "--temp-dir", str(self.temp_dir), "--include-dashboard", "false", "--disable-usage-stats",
                   "--dashboard-agent-listen-port", str(_free_port())]
        self.hides_storage = os.geteuid() == 0 and shutil.which("unshare") is not None
        if self.hides_storage:  # the node's own view of the disk: `hidden/` is an empty tmpfs there
            hidden.mkdir(parents=True, exist_ok=True)
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f'mount -t tmpfs xtiny-test "{hidden}" && exec "$@"', "sh", *command]
        self.log = open(self.temp_dir / "head.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=dict(os.environ), stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True, cwd=work)
        deadline = time.time() + 120
        while not (self.temp_dir / "session_latest").exists() or not self._listening():
            if self.process.poll() is not None or time.time() > deadline:
                log = (self.temp_dir / "head.log").read_text()[-3000:]
                self.stop()
                raise RuntimeError(f"ray head did not start: {log}")
            time.sleep(0.2)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def processes(self) -> list:
        """Every process of this head (its own and the workers its raylet started)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        procs = self.processes()
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=30)
        self.process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def head(nnunet_work: Path):
    """A one-node Ray cluster (2 CPUs, no GPU) on 127.0.0.1; always stopped at the end."""
    from ray._private import ray_constants

    assert not ray_constants.ENABLE_RAY_CLUSTER, "ray was imported before this module set the loopback variable"
    cluster = Head(nnunet_work, nnunet_work / "hidden")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module", autouse=True)
def _clean_up(planned_bus: str):
    """At the end: the local instances' sessions, and this module's trainings and sweep result of ``planned_bus``
    (later tests expect its widths untrained, e.g. test_reliability's export of a width never trained)."""
    from xtiny.artifacts import sweep_json_path
    from xtiny.nnunet.trained import model_folder
    from xtiny.training.results import trainer_name_for

    yield
    shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)
    for iterations in (3, 20):
        trainer = trainer_name_for(1, iterations, 0, "monai")
        for folder in model_folder(planned_bus, trainer, "2d").parent.glob(f"{trainer}__*"):
            shutil.rmtree(folder, ignore_errors=True)
    for path in (sweep_json_path(planned_bus), sweep_json_path(planned_bus).with_suffix(".png")):
        path.unlink(missing_ok=True)


def _files(*folders: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for f in folders if f.exists() for p in f.rglob("*")}


def _sweep_figures(path: Path) -> dict[str, tuple]:
    record = json.loads(path.read_text())
    return {r["configuration"]: (r["params"], r["dice"]) for r in record["candidates"]}


def _fold_folders(dataset: str, iterations: int) -> list[Path]:
    """Where the sweep of :data:`CAPS` at :data:`BUDGET` (with ``iterations``) trains, before any run of it."""
    from xtiny.nnunet.trained import model_folder
    from xtiny.training.results import trainer_name_for

    trainer = trainer_name_for(1, iterations, 0, "monai")
    folders = [model_folder(dataset, trainer, c) / "fold_0" for c in ("2d_xtiny4", "2d_xtiny2")]
    for folder in folders:
        shutil.rmtree(folder.parent, ignore_errors=True)
    return folders


def test_sweep_through_ray_address_matches_local(head: Head, planned_bus: str, capsys) -> None:
    from xtiny.artifacts import sweep_json_path

    _fold_folders(planned_bus, 3)
    assert main(["sweep", "-d", planned_bus, *BUDGET, *CAPS]) == 0
    local = _sweep_figures(sweep_json_path(planned_bus))
    _fold_folders(planned_bus, 3)

    assert main(["sweep", "-d", planned_bus, *BUDGET, *CAPS, "--executor", "ray", "--ray-address", head.address]) == 0
    assert "observed knee" in capsys.readouterr().out
    record = json.loads(sweep_json_path(planned_bus).read_text())
    assert record["executor"] == "ray" and record["ray_address"] == head.address and record["failed"] == []
    assert record["cpus_per_job"] == 1 and record["gpus_per_job"] == 0
    rows = record["candidates"]
    assert [r["configuration"] for r in rows] == ["2d_xtiny4", "2d_xtiny2"]
    assert all(not r["skipped_finished"] and r["ray"]["cpus"] == 1 and r["ray"]["pid"] != os.getpid() for r in rows), rows
    assert _sweep_figures(sweep_json_path(planned_bus)) == local  # same parameters and Dice as --executor local
    assert not list(Path(os.environ["nnUNet_results"]).glob(".xtiny-storage-check-*"))  # sentinels removed


def _ray_workers(head: Head) -> list:
    found = []
    for proc in head.processes():
        try:
            if "run_on_ray_worker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def test_killed_worker_is_retried_and_the_sweep_finishes(head: Head, planned_bus: str) -> None:
    from xtiny.artifacts import sweep_json_path

    budget = [*BUDGET[:2], "--iterations", "20", *BUDGET[4:]]  # long enough to be caught mid-training
    folders = _fold_folders(planned_bus, 20)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "xtiny", "sweep", "-d", planned_bus, *budget, *CAPS,
                             "--executor", "ray", "--ray-address", head.address],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, killed = time.time() + 240, None
    while killed is None:
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        workers = _ray_workers(head)
        if workers and any(f.is_dir() for f in folders):  # a training has started
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    record = json.loads(sweep_json_path(planned_bus).read_text())
    assert record["failed"] == [] and all(r["dice"] is not None for r in record["candidates"]), out
    assert killed not in {r["ray"]["pid"] for r in record["candidates"]}  # its job ran again in another worker
    _fold_folders(planned_bus, 20)


def test_unreachable_address_exits_2_and_writes_nothing(planned_bus: str, nnunet_work: Path, capsys) -> None:
    before = _files(nnunet_work / "preprocessed", nnunet_work / "results")
    port = _free_port()  # nothing listens there
    assert main(["sweep", "-d", planned_bus, *BUDGET, *CAPS, "--executor", "ray", "--ray-address",
                 f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port} (--ray-address)" in err and "ray start --head" in err
    assert _files(nnunet_work / "preprocessed", nnunet_work / "results") == before


def test_gpus_per_job_on_a_cluster_without_gpus_exits_2(head: Head, planned_bus: str, nnunet_work: Path,
                                                         capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _files(nnunet_work / "preprocessed", nnunet_work / "results")
    monkeypatch.setenv("RAY_ADDRESS", head.address)  # the variable instead of the flag
    assert main(["sweep", "-d", planned_bus, *BUDGET, *CAPS, "--executor", "ray", "--gpus-per-job", "1"]) == 2
    err = capsys.readouterr().err
    assert "--gpus-per-job 1: the Ray cluster has no GPU" in err and "--device cpu --gpus-per-job 0" in err
    assert _files(nnunet_work / "preprocessed", nnunet_work / "results") == before


def test_storage_the_node_cannot_see_exits_2(head: Head, planned_bus: str, nnunet_work: Path, capsys,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if not head.hides_storage:
        pytest.skip("needs root and unshare to give the Ray node a folder the driver does not share")
    hidden = nnunet_work / "hidden"
    for key in ("preprocessed", "results"):
        (hidden / key).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(f"nnUNet_{key}", str(hidden / key))  # nnUNet_raw still finds the dataset
    assert main(["sweep", "-d", planned_bus, *BUDGET, *CAPS, "--executor", "ray", "--ray-address", head.address]) == 2
    err = capsys.readouterr().err
    assert "Ray node" in err and f"cannot see nnUNet_preprocessed = {hidden / 'preprocessed'}" in err, err
    assert "mount the same shared storage at the same path on every Ray node" in err
    assert _files(hidden) == {str(hidden / "preprocessed"): (hidden / "preprocessed").stat().st_mtime_ns,
                              str(hidden / "results"): (hidden / "results").stat().st_mtime_ns}  # nothing written


def test_failed_job_is_recorded_and_an_initialized_ray_is_used(head: Head, planned_bus: str) -> None:
    from xtiny.family import add_width_family
    from xtiny.training.schedules.ray_cluster import RayOptions, ray_connection, run_ray_jobs
    from xtiny.training.schedules.sweep import train_job
    from xtiny.training.spec import TrainSpec

    add_width_family(planned_bus, "2d")
    spec = TrainSpec(backend="monai", epochs=1, iterations_per_epoch=3, val_iterations=0)
    job = {"dataset": planned_bus, "spec": spec, "not_before": None}
    ray.init(address=head.address, logging_level="WARNING", log_to_driver=False)  # Ray already up in this process
    try:
        with ray_connection(RayOptions(address="127.0.0.1:1"), jobs=2, device="cpu") as setup:  # address unused
            rows = run_ray_jobs(setup, train_job, [{**job, "configuration": "2d_xtiny2"},
                                                   {**job, "configuration": "2d_xtiny999"}])  # not in the plans
        assert ray.is_initialized()  # used as it was, left as it was
        assert {r["ray"]["node_id"] for r in rows if "ray" in r} == {ray.get_runtime_context().get_node_id()}
    finally:
        ray.shutdown()
    by_name = {r["configuration"]: r for r in rows}
    assert by_name["2d_xtiny2"]["dice"] is not None and not by_name["2d_xtiny2"].get("failed")
    bad = by_name["2d_xtiny999"]
    assert bad["failed"] and bad["dice"] is None and "2d_xtiny999" in bad["error"], bad


def test_confirm_on_the_cluster(head: Head, planned_bus: str, capsys) -> None:
    from xtiny.artifacts import confirm_json_path
    from xtiny.search import SearchSettings, run_search

    run_search(planned_bus, settings=SearchSettings(k=4, seeds=1, device="cpu", caps=[32, 16, 8, 4, 2]),
               progress=False)  # as test_sweep
    try:
        assert main(["confirm", "-d", planned_bus, *BUDGET, "--start", "2d_xtiny2", "--max-steps", "1",
                     "--neighbours", "1", "--tolerance", "100", "--executor", "ray", "--ray-address", head.address]) == 0, \
            capsys.readouterr().err
        record = json.loads(confirm_json_path(planned_bus).read_text())
    finally:  # later tests resolve `auto` configurations of planned_bus without this confirm
        confirm_json_path(planned_bus).unlink(missing_ok=True)
        confirm_json_path(planned_bus).with_suffix(".png").unlink(missing_ok=True)
    assert record["executor"] == "ray" and record["ray_address"] == head.address and record["confirmed"] == "2d_xtiny2"
    assert set(record["trainings"]) == {"2d_xtiny2", "2d_xtiny4"}
    assert all(r["ray"]["pid"] != os.getpid() for r in record["trainings"].values())


def test_local_instance_without_an_address(planned_bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from xtiny.artifacts import sweep_json_path

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["sweep", "-d", planned_bus, *BUDGET, "--caps", "2", "--no-base", "--executor", "ray"]) == 0
    record = json.loads(sweep_json_path(planned_bus).read_text())
    assert record["ray_address"] == "local instance" and record["failed"] == []
    assert record["candidates"][0]["dice"] is not None and record["candidates"][0]["ray"]["pid"] != os.getpid()
    assert not ray.is_initialized()  # the instance it started is gone
