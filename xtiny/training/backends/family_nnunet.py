"""Family runs with nnU-Net's own trainer: several configurations learn from one batch stream.

One trainer (the first that still trains) owns nnU-Net's data loaders and augmentation; every batch it yields goes
through each network's own ``train_step`` (forward, loss, backward, optimizer step, gradient scaler), and every
validation batch through each network's ``validation_step``. Each network keeps its own nnU-Net trainer: its
optimizer and poly learning-rate schedule, its initialisation seed (:func:`member_seed`), its pseudo Dice and
EMA, its training log and ``progress.png``. Its result folder is the one a solo training of that budget writes
(same trainer name), so nnU-Net's CLI, ``xtiny evaluate`` and ``xtiny export`` use it unchanged; ``fold_x/
family_run.json`` says it was trained in a family run, and with which others.

The family's checkpoints are committed as one step (:mod:`xtiny.training.backends.family_checkpoints`), so a killed run
resumes every network from the same epoch; networks that had finished are read back, not retrained.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_json
from xtiny.console import progress_bar, say
from xtiny.devices import resolve_device
from xtiny.nnunet.plans import plans_path, read_preprocessed_dataset_json
from xtiny.nnunet.trained import model_folder, read_validation_dice
from xtiny.nnunet.worker_pools import preloaded_worker_pools
from xtiny.training.backends.family_checkpoints import CheckpointJournal, recover_journal
from xtiny.training.backends.family_plan import FamilyPlan, check_family_memory, member_seed
from xtiny.training.backends.threads import cpu_thread_budget
from xtiny.training.results import TrainResult

FAMILY_RECORD = "family_run.json"
TIMED_ITERATIONS = 20  # iterations whose per-network step time is measured (synchronised on CUDA)


def family_journal_path(plan: FamilyPlan) -> Path:
    """The journal of the family's checkpoint commits: beside the members' model folders, one per trainer and fold."""
    trainer = plan.spec.trainer_name
    return model_folder(plan.dataset_name, trainer, plan.configurations[0]).parent / "xtiny" / \
        f"family_journal_{trainer}_fold_{plan.spec.fold}.json"


def is_current(checkpoint: Path, not_before: float | None) -> bool:
    """A checkpoint exists and was written after ``not_before`` (older ones were trained on other data)."""
    return checkpoint.is_file() and (not_before is None or checkpoint.stat().st_mtime >= not_before)


def fold_folder_of(plan: FamilyPlan, configuration: str) -> Path:
    return model_folder(plan.dataset_name, plan.spec_of(configuration).trainer_name, configuration,
                        plan.plans_identifier) / f"fold_{plan.spec.fold}"


def _build_member(plan: FamilyPlan, configuration: str, device, dataset_json: dict, resume: Path | None):
    """nnU-Net's budget trainer for one member, initialised with its own seed, its checkpoint loaded when resuming."""
    import torch

    from xtiny.atomic import read_json
    from xtiny.training.backends.trainer_classes import budget_trainer_class

    plans = read_json(plans_path(plan.dataset_name, plan.plans_identifier), "nnU-Net plans file")
    plans["continue_training"] = resume is not None
    trainer = budget_trainer_class(plan.spec_of(configuration).trainer_name)(plans=plans, configuration=configuration,
                                                           fold=plan.spec.fold, dataset_json=dataset_json,
                                                           device=device)
    trainer.reports_epochs = False
    torch.manual_seed(member_seed(plan.spec.seed, configuration))
    trainer.initialize()
    if resume is not None:
        trainer.load_checkpoint(str(resume))
    return trainer


def _postfix(members: dict[str, Any]) -> str:
    parts = []
    for configuration, trainer in members.items():
        try:
            dice = trainer.logger.get_value("mean_fg_dice", step=None)[-1]
        except (KeyError, IndexError):
            dice = None
        parts.append(f"{configuration} {'n/a' if dice is None else f'{100 * dice:.1f}'}")
    return "pseudo Dice " + " | ".join(parts)


def check_online_teacher_trains(plan: FamilyPlan, to_train: list[str]) -> None:
    """Online KD: the teacher must train beside every student that still trains (XTinyError before training)."""
    from xtiny.errors import XTinyError

    teacher = plan.online_teacher
    if teacher is None or not to_train or teacher in to_train:
        return
    raise XTinyError(f"--distill online: {teacher} (the teacher) has finished training, but "
                     f"{', '.join(to_train)} have not; an online teacher must train beside its students.",
                     fix=f"delete {teacher}'s fold folder of {plan.spec_of(teacher).trainer_name} to train the family "
                         "again, or train the students with --teacher " + teacher + " instead.")


class OnlineTeacher:
    """The online teacher's logits on the current batch: a forward hook on its network keeps the highest-resolution
    output of its training step (detached); the students read it, the family loop clears it before each batch."""

    def __init__(self, network) -> None:
        self.logits = None
        self.handle = network.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        out = output[0] if isinstance(output, list | tuple) else output
        self.logits = out.detach()

    def __call__(self):
        if self.logits is None:
            raise RuntimeError("online KD: the teacher has not stepped on this batch (it must step first)")
        return self.logits


class NnunetFamilyLoop:
    """nnU-Net's ``run_training`` for several trainers on one batch stream (see the module doc). With an online
    teacher (``teacher``: its configuration) the teacher steps first on every batch and its logits feed the
    students' KD term."""

    def __init__(self, members: dict[str, Any], journal: CheckpointJournal, device, teacher: str | None = None) -> None:
        if teacher is not None:  # the teacher steps first on every batch
            members = {teacher: members[teacher], **{c: t for c, t in members.items() if c != teacher}}
        self.members = members
        self.journal = journal
        self.device = device
        self.leader = next(iter(members.values()))
        self.timing: dict[str, float] = {"data": 0.0, **{c: 0.0 for c in members}}
        self.timed_iterations = 0
        self.online = None
        if teacher is not None:
            self.online = OnlineTeacher(members[teacher].network)
            for configuration, trainer in members.items():
                if configuration != teacher:
                    trainer.online_teacher = self.online

    def start(self) -> None:
        for trainer in self.members.values():
            trainer.checkpoint_journal = self.journal
            if trainer is not self.leader:  # followers take the leader's batches: no loaders of their own
                trainer.get_dataloaders = lambda: (None, None)
                trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()  # mirroring axes for inference
            trainer.on_train_start()

    def _timed_step(self, configuration: str, trainer, batch: dict, timed: bool) -> dict:
        if not timed:
            return trainer.train_step(batch)
        import torch

        tic = time.perf_counter()
        out = trainer.train_step(batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.timing[configuration] += time.perf_counter() - tic
        return out

    def run_epoch(self, epoch: int, bar) -> None:
        """One epoch for every member at ``epoch`` (members resumed further along wait for the others)."""
        import torch

        stepping = {c: t for c, t in self.members.items() if t.current_epoch == epoch}
        for trainer in stepping.values():
            trainer.on_epoch_start()
            trainer.on_train_epoch_start()
        outputs: dict[str, list] = {c: [] for c in stepping}
        for _ in range(self.leader.num_iterations_per_epoch):
            timed = self.timed_iterations < TIMED_ITERATIONS
            tic = time.perf_counter()
            batch = next(self.leader.dataloader_train)
            if self.online is not None:
                self.online.logits = None
            if timed:
                self.timing["data"] += time.perf_counter() - tic
            for configuration, trainer in stepping.items():
                outputs[configuration].append(self._timed_step(configuration, trainer, batch, timed))
            self.timed_iterations += int(timed)
            bar.update(1)
        for configuration, trainer in stepping.items():
            trainer.on_train_epoch_end(outputs[configuration])
        with torch.no_grad():
            val_outputs: dict[str, list] = {c: [] for c in stepping}
            for trainer in stepping.values():
                trainer.on_validation_epoch_start()
            for _ in range(self.leader.num_val_iterations_per_epoch):
                batch = next(self.leader.dataloader_val)
                for configuration, trainer in stepping.items():
                    val_outputs[configuration].append(trainer.validation_step(batch))
            for configuration, trainer in stepping.items():
                trainer.on_validation_epoch_end(val_outputs[configuration])
        for trainer in stepping.values():
            trainer.on_epoch_end()
        self.journal.commit()  # every member's checkpoints of this epoch, as one step
        bar.set_postfix_str(_postfix(self.members), refresh=False)

    def finish(self) -> None:
        """nnU-Net's ``on_train_end`` for the family: final checkpoints committed together, then latest removed."""
        for trainer in self.members.values():
            trainer.current_epoch -= 1
            trainer.save_checkpoint(str(Path(trainer.output_folder) / "checkpoint_final.pth"))
            trainer.current_epoch += 1
        self.journal.commit()
        for trainer in self.members.values():
            (Path(trainer.output_folder) / "checkpoint_latest.pth").unlink(missing_ok=True)
            trainer.checkpoint_journal = None
        for loader in (self.leader.dataloader_train, self.leader.dataloader_val):
            if hasattr(loader, "_finish"):
                loader._finish()
        for trainer in self.members.values():
            trainer.print_to_log_file("Training done (family run).", also_print_to_console=False)
        if self.online is not None:
            self.online.handle.remove()

    def step_seconds(self) -> dict[str, float | None]:
        """Mean seconds per iteration over the timed iterations: waiting for the batch, and each network's step."""
        n = self.timed_iterations
        return {k: (round(v / n, 5) if n else None) for k, v in self.timing.items()}


def time_shares(seconds: float, step_seconds: dict[str, float]) -> dict[str, float]:
    """The family run's ``seconds`` split over its members in proportion to their measured step times (equal shares
    when unmeasured): what each network's training cost inside the family."""
    measured = {c: float(v or 0.0) for c, v in step_seconds.items()}
    total = sum(measured.values())
    if total <= 0:
        return {c: round(seconds / len(measured), 3) for c in measured}
    return {c: round(seconds * v / total, 3) for c, v in measured.items()}


def record_family_seconds(folders: dict[str, Path], seconds: float, step_seconds: dict[str, float]) -> None:
    """Add the family's wall time, each member's share (:func:`time_shares`) and the measured step times (``data``:
    waiting for the batch; one entry per network) to the members' records."""
    shares = time_shares(seconds, {c: step_seconds.get(c) for c in folders})
    for configuration, folder in folders.items():
        update_family_record(folder, family_seconds=round(seconds, 3), share_seconds=shares[configuration],
                             step_seconds=dict(step_seconds))


def read_family_record(fold_folder: Path) -> dict:
    """A member's ``family_run.json`` (``{}`` when it was not trained in a family run)."""
    from xtiny.atomic import read_json

    path = Path(fold_folder) / FAMILY_RECORD
    return read_json(path, "family run record") if path.is_file() else {}


def update_family_record(fold_folder: Path, **fields) -> None:
    """Add ``fields`` to a member's ``family_run.json`` (atomically)."""
    atomic_write_json(Path(fold_folder) / FAMILY_RECORD, {**read_family_record(fold_folder), **fields})


def family_share_seconds(fold_folder: Path) -> float | None:
    """A member's share of its family run's time (None when it was not trained in a finished family run)."""
    return read_family_record(fold_folder).get("share_seconds")


def write_family_records(plan: FamilyPlan, folders: dict[str, Path], extra: dict) -> None:
    """``fold_x/family_run.json`` of each member: trained in a family run, with which others, with what seed."""
    for configuration, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / FAMILY_RECORD, {
            "family_run": True, "configuration": configuration, "family": list(plan.configurations),
            "trained_with": [c for c in plan.configurations if c != configuration], "backend": plan.spec.backend,
            "trainer": plan.spec_of(configuration).trainer_name, "fold": plan.spec.fold, "seed": plan.spec.seed,
            "init_seed": member_seed(plan.spec.seed, configuration), "shared_batch_stream": True,
            **plan.online_kd_record(configuration), **extra})


def train_nnunet_family(plan: FamilyPlan, *, not_before: float | None = None) -> list[TrainResult]:
    """Train every member of ``plan`` with nnU-Net's trainer on one batch stream, then run each one's final
    validation; returns one :class:`TrainResult` per member, in the plan's order. Members finished after
    ``not_before`` are read back; unfinished ones resume from their last family checkpoint."""
    with preloaded_worker_pools():  # every member's validation opens two nnU-Net pools
        return _train_members(plan, not_before)


def _train_members(plan: FamilyPlan, not_before: float | None) -> list[TrainResult]:
    import torch

    from xtiny.training.results import finished_training

    spec = plan.spec
    device = resolve_device(spec.device)
    folders = {c: fold_folder_of(plan, c) for c in plan.configurations}
    note = recover_journal(family_journal_path(plan), list(folders.values()))
    if note:
        say(f"[family] {note}")
    finished = {c for c, f in folders.items() if finished_training(f, not_before)}
    to_validate = {c for c, f in folders.items()  # trained after the data, its final validation missing
                   if c not in finished and is_current(f / "checkpoint_final.pth", not_before)}
    to_train = [c for c in plan.configurations if c not in finished | to_validate]
    check_online_teacher_trains(plan, to_train)
    memory = check_family_memory(plan, device) if to_train else {}
    dataset_json = read_preprocessed_dataset_json(plan.dataset_name)
    started = time.perf_counter()
    timing: dict[str, float | None] = {}
    if to_train:
        resume = {c: folders[c] / "checkpoint_latest.pth" for c in to_train}
        resume = {c: (p if is_current(p, not_before) else None) for c, p in resume.items()}
        write_family_records(plan, {c: folders[c] for c in to_train}, {"memory": memory})
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        with cpu_thread_budget(device.type):
            members = {c: _build_member(plan, c, device, dataset_json, resume[c]) for c in to_train}
            resumed = {c: t.current_epoch for c, t in members.items() if resume[c] is not None}
            if resumed:
                say(f"[family] resuming {', '.join(f'{c} at epoch {e}' for c, e in resumed.items())}")
            loop = NnunetFamilyLoop(members, CheckpointJournal(family_journal_path(plan)), device,
                                    teacher=plan.online_teacher)
            loop.start()
            first = min(t.current_epoch for t in members.values())
            epochs = loop.leader.num_epochs
            total = (epochs - first) * loop.leader.num_iterations_per_epoch
            with progress_bar(total, f"family {plan.label}", unit="it") as bar:
                for epoch in range(first, epochs):
                    loop.run_epoch(epoch, bar)
            loop.finish()
            timing = loop.step_seconds()
            record_family_seconds({c: folders[c] for c in to_train}, time.perf_counter() - started, timing)
            for trainer in members.values():
                trainer.perform_actual_validation(False)
    for configuration in sorted(to_validate, key=plan.configurations.index):
        with cpu_thread_budget(device.type):
            trainer = _build_member(plan, configuration, device, dataset_json,
                                    folders[configuration] / "checkpoint_final.pth")
            trainer.perform_actual_validation(False)
    seconds = round(time.perf_counter() - started, 3)
    return [_result(plan, c, folders[c], c in finished, seconds, timing) for c in plan.configurations]


def _result(plan: FamilyPlan, configuration: str, fold_folder: Path, read_back: bool, seconds: float,
            timing: dict) -> TrainResult:
    spec = plan.spec_of(configuration)
    from xtiny.training.backends.trainer_classes import parse_budget

    epochs, iterations, _ = parse_budget(spec.trainer_name)
    return TrainResult(output_folder=fold_folder.parent, checkpoint=fold_folder / "checkpoint_final.pth",
                       trainer_name=spec.trainer_name, plans_identifier=plan.plans_identifier,
                       configuration=configuration, fold=spec.fold, validation_dice=read_validation_dice(fold_folder),
                       backend="nnunet", epochs=epochs, iterations_per_epoch=iterations,
                       seconds=None if read_back else seconds,
                       extra={"family": list(plan.configurations), "read_back": read_back,
                              "step_seconds": timing, **plan.online_kd_record(configuration)})
