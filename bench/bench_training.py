"""Training throughput on CPU (or GPU): nnU-Net's trainer vs XTiny's MONAI backend on the same data.

Measures, on a synthetic 256x256 breast-ultrasound dataset planned by nnU-Net (2d, cap-8 candidate):
* nnU-Net trainer: seconds per training iteration (``trainer.train_step`` on nnU-Net's own data loader and
  augmentation, ``nnUNet_n_proc_DA`` workers) and the time of one 250-iteration epoch (measured when
  ``--full-epoch``, else extrapolated from ``--iterations`` and marked so);
* MONAI backend: iterations/s of ``train_monai`` (in-memory tensors, MONAI augmentation), same batch and patch.

Usage: ``python bench/bench_training.py [--iterations 30] [--full-epoch] [--device cpu] [--size 256]``.
Writes ``bench/results/training_<device>.json``. Check ``uptime`` first: numbers on a busy machine are not useful.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _setup(work: Path, size: int, cases: int) -> str:
    for key in ("raw", "preprocessed", "results"):
        os.environ[f"nnUNet_{key}"] = str(work / key)
        (work / key).mkdir(parents=True, exist_ok=True)
    from xtiny.datasets.synth import generate_dataset
    from xtiny.family import add_width_family
    from xtiny.nnunet.planning import plan_and_preprocess

    dataset_id = 980
    if not any((work / "raw").glob(f"Dataset{dataset_id}_*")):
        generate_dataset("bus", dataset_id=dataset_id, num_cases=cases, seed=0, size=size, raw_dir=work / "raw")
    name = plan_and_preprocess(dataset_id, configurations=("2d",), num_processes=2)
    add_width_family(name, "2d")
    return name


def bench_nnunet(name: str, configuration: str, iterations: int, device: str) -> dict:
    """Seconds per nnU-Net ``train_step`` (after one warm-up step) with nnU-Net's data loading + augmentation."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json

    from xtiny.nnunet.plans import plans_path
    from xtiny.training.backends.trainer_classes import budget_trainer_class, budget_trainer_name

    plans = load_json(str(plans_path(name)))
    plans["continue_training"] = False
    trainer_name = budget_trainer_name(1, iterations + 1, 1)
    trainer = budget_trainer_class(trainer_name)(plans=plans, configuration=configuration, fold=0,
                                                 dataset_json=load_json(str(plans_path(name).parent / "dataset.json")),
                                                 device=torch.device(device))
    trainer.on_train_start()
    trainer.on_epoch_start()
    trainer.on_train_epoch_start()
    trainer.train_step(next(trainer.dataloader_train))  # warm-up
    tic = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step(next(trainer.dataloader_train))
    seconds = (time.perf_counter() - tic) / iterations
    return {"batch_size": trainer.batch_size, "patch_size": list(trainer.configuration_manager.patch_size),
            "seconds_per_iteration": round(seconds, 4), "iterations_per_second": round(1 / seconds, 3)}


def bench_compute_only(name: str, configuration: str, batch_size: int, patch_size: list[int], iterations: int,
                       device: str) -> float:
    """Iterations/s of forward + DiceCE backward + SGD step on one fixed random batch: the no-data-pipeline bound."""
    import torch
    from monai.losses import DiceCELoss

    from xtiny.nnunet.networks import build_planned_network

    net = build_planned_network(name, configuration, deep_supervision=False, seed=0).to(device)
    opt = torch.optim.SGD(net.parameters(), 1e-2, momentum=0.99, nesterov=True)
    loss_fn = DiceCELoss(include_background=False, to_onehot_y=True, softmax=True)
    x = torch.randn(batch_size, 1, *patch_size, device=device)
    y = (torch.rand(batch_size, 1, *patch_size, device=device) > 0.7).long()
    times = []
    for i in range(iterations + 1):
        tic = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - tic)
    return round(len(times) / sum(times), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--full-epoch", action="store_true", help="time a real 250-iteration nnU-Net epoch")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--configuration", default="2d_xtiny8")
    parser.add_argument("--work", default=None, help="work folder (default: a temp folder)")
    args = parser.parse_args()
    os.environ.setdefault("nnUNet_n_proc_DA", "0" if args.device == "cpu" else "4")
    os.environ.setdefault("nnUNet_compile", "false")
    work = Path(args.work or tempfile.mkdtemp(prefix="xtiny-bench-training-"))
    load = os.getloadavg()[0]
    name = _setup(work, args.size, args.cases)

    from common import write_result

    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    its = 250 if args.full_epoch else args.iterations
    nn = bench_nnunet(name, args.configuration, its, args.device)
    epoch_seconds = nn["seconds_per_iteration"] * 250
    bound = bench_compute_only(name, args.configuration, nn["batch_size"], nn["patch_size"], min(its, 20),
                               args.device)
    tic = time.perf_counter()
    mon = train_monai(name, args.configuration, TrainSpec(backend="monai", epochs=1, iterations_per_epoch=its,
                                                          val_iterations=0, device=args.device))
    monai_ips = mon.extra["iterations_per_second"]
    rows = [
        ["nnU-Net trainer (nnUNetTrainer.train_step)", nn["iterations_per_second"],
         round(epoch_seconds, 1), "measured" if args.full_epoch else f"extrapolated from {its} it"],
        ["XTiny MONAI backend (train_monai)", monai_ips, round(250 / monai_ips, 1) if monai_ips else None,
         f"{its} it incl. first (warm-up) step"],
        ["compute only (fixed batch, no data pipeline)", bound, round(250 / bound, 1), "upper bound"],
    ]
    path = write_result(
        f"training_{args.device}", f"Training throughput, {args.configuration}, {args.size}x{args.size}, "
        f"{args.device}", ["pipeline", "iterations/s", "s per 250-it epoch", "how"], rows,
        configuration=args.configuration, dataset=name, batch_size=nn["batch_size"], patch_size=nn["patch_size"],
        nnunet=nn, monai={"iterations_per_second": monai_ips, "wall_seconds_incl_validation":
                          round(time.perf_counter() - tic, 2), "validation_dice": mon.validation_dice},
        load_average_at_start=round(load, 2), load_average_at_end=round(os.getloadavg()[0], 2),
        notes=[f"nnUNet_n_proc_DA={os.environ['nnUNet_n_proc_DA']}; torch threads={__import__('torch').get_num_threads()}",
               "1-epoch Dice values are not meaningful; this measures speed only."])
    print(f"nnU-Net: {nn['iterations_per_second']} it/s (250-it epoch ~{epoch_seconds:.0f} s); "
          f"MONAI: {monai_ips} it/s; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
