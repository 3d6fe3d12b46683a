"""`xtiny train`: train one configuration with nnU-Net's trainer (default) or the MONAI backend; several
comma-separated configurations of one base train together as a family run (one batch stream)."""

import argparse

HELP = "train a configuration (auto = the width search's pick) with nnU-Net's trainer or MONAI"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("-c", "--configuration", default="auto",
                        help="configuration in the plans (e.g. 2d_xtiny8, 2d), 'auto' = the last search's pick, or a "
                             "baseline (unext, cmunext_s, tinyunet; --backend monai, trained on the 2d data); "
                             "comma-separated names (2d_xtiny8,2d_xtiny16,2d) train as one family run: one data "
                             "loader, every network stepped on each batch, each in its own result folder")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed: each network's initialisation seed derives from it and its name, the same alone "
                             "as in a family run (default 0)")
    parser.add_argument("--epochs", type=int, default=1000, help="epoch budget (nnU-Net default 1000)")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations per epoch (default 250)")
    parser.add_argument("--val-iterations", type=int, default=None,
                        help="validation iterations per epoch (default 50)")
    parser.add_argument("--fold", default="0", help="cross-validation fold 0-4 or 'all'")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--backend", default="nnunet", choices=["nnunet", "monai"])
    parser.add_argument("--continue", dest="continue_training", action="store_true",
                        help="continue an interrupted run from its checkpoint (same budget)")
    parser.add_argument("--validate-at", default=None, metavar="F,F,...",
                        help="learning curve (--backend monai): also validate on the whole validation cases after "
                             "these fractions of the schedule, e.g. 1/16,1/8,1/4,1/2; the curve goes into "
                             "family_run.json (family runs) and the output")
    add_teacher_arguments(parser, "this model")
    parser.add_argument("--distill", default=None, choices=["online"],
                        help="online: in a family run (-c widths,...,2d) the full configuration teaches the others on "
                             "the same batches (its logits, detached), after a warm-up; --kd-loss/--kd-alpha/"
                             "--kd-temperature as with --teacher")
    parser.add_argument("--kd-warmup", type=float, default=None,
                        help="--distill online: fraction of the schedule trained before the KD term starts, in [0, 1) "
                             "(default 0.25, a placeholder until the bench sets it)")


def add_teacher_arguments(parser: argparse.ArgumentParser, student: str) -> None:
    """``--teacher``, ``--kd-loss``, ``--kd-alpha``, ``--kd-temperature`` (shared with `xtiny confirm`); read by
    :func:`spec_from_args` (the spec's ``kd`` and ``kd_loss``) and passed on as ``teacher=args.teacher``."""
    parser.add_argument("--teacher", default=None, metavar="CONFIG_OR_CHECKPOINT",
                        help=f"distil a trained teacher into {student}: a configuration of the same dataset trained on "
                             "the same fold (e.g. 2d) or a checkpoint path")
    add_kd_loss_argument(parser)
    parser.add_argument("--kd-alpha", type=float, default=None,
                        help="weight of the distillation term in [0, 1] (default: the bench's best, see BENCHMARKS.md)")
    parser.add_argument("--kd-temperature", type=float, default=None,
                        help="softmax temperature T > 0 of the distillation term (default: the bench's best)")


def add_kd_loss_argument(parser: argparse.ArgumentParser) -> None:
    """``--kd-loss`` (`train`, `confirm`, `run`): the KD term, checked by the spec (unknown: exit 2)."""
    parser.add_argument("--kd-loss", default=None, metavar="pixel|cwd|fg",
                        help="distillation term: pixel (voxel-wise KL), cwd (channel-wise: each class channel's "
                             "spatial softmax) or fg (voxel KL, foreground and background weighted equally; the "
                             "default); see BENCHMARKS.md, Distillation, for what each was worth")


def kd_from_args(args: argparse.Namespace) -> tuple[float, float] | None:
    """``(alpha, temperature)`` with --teacher or --distill online (the bench's defaults where unset), else None;
    XTinyError for KD settings without either, for both together, and for --kd-warmup without --distill online.
    Commands without the teacher flags have no KD."""
    from xtiny.errors import XTinyError
    from xtiny.training.backends.distill import KD_DEFAULT_ALPHA, KD_DEFAULT_TEMPERATURE

    teacher, alpha, temperature, loss, distill, warmup = (
        getattr(args, k, None) for k in ("teacher", "kd_alpha", "kd_temperature", "kd_loss", "distill", "kd_warmup"))
    if teacher is not None and distill is not None:
        raise XTinyError("--teacher and --distill online both set: online KD takes its teacher from the family run.",
                         fix="leave one of them out.")
    if warmup is not None and distill is None:
        raise XTinyError("--kd-warmup set without --distill online.", fix="add --distill online, or leave it out.")
    if teacher is None and distill is None and any(v is not None for v in (alpha, temperature, loss)):
        raise XTinyError("--kd-loss / --kd-alpha / --kd-temperature set, but no --teacher to distil from.",
                         fix="add --teacher 2d (a trained configuration of this dataset) or a checkpoint path"
                             f"{' (or --distill online in a family run)' if hasattr(args, 'distill') else ''}.")
    if teacher is None and distill is None:
        return None
    return (KD_DEFAULT_ALPHA if alpha is None else alpha, KD_DEFAULT_TEMPERATURE if temperature is None else temperature)


def spec_from_args(args: argparse.Namespace):
    """The one place the command line becomes a :class:`xtiny.training.spec.TrainSpec` (`train`, `sweep`,
    `confirm`): --backend, --epochs, --iterations, --val-iterations, --fold, --device, --seed and the KD flags
    (--teacher / --distill online, --kd-loss, --kd-alpha, --kd-temperature, --kd-warmup; a flag a command lacks takes
    the spec's default); XTinyError (exit 2) for a bad budget or KD setting."""
    from xtiny.training.backends.distill import KD_DEFAULT_WARMUP
    from xtiny.training.spec import TrainSpec

    kd = kd_from_args(args)
    online = getattr(args, "distill", None) == "online"
    warmup = getattr(args, "kd_warmup", None)
    return TrainSpec(backend=getattr(args, "backend", "nnunet"), epochs=args.epochs,
                     iterations_per_epoch=args.iterations, val_iterations=args.val_iterations, fold=args.fold,
                     device=args.device, seed=getattr(args, "seed", 0), kd=kd,
                     kd_loss=getattr(args, "kd_loss", None),
                     kd_warmup=(KD_DEFAULT_WARMUP if warmup is None else warmup) if online else None)


def parse_fractions(text: str | None) -> tuple[float, ...]:
    """``"1/16,0.125,1/4"`` → ``(0.0625, 0.125, 0.25)``; XTinyError (exit 2) for what is not a number or ``a/b``."""
    from xtiny.errors import XTinyError

    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            top, _, bottom = part.partition("/")
            out.append(float(top) / float(bottom) if bottom else float(top))
        except (ValueError, ZeroDivisionError):
            raise XTinyError(f"--validate-at: '{part}' is not a fraction of the schedule.",
                             fix="pass fractions between 0 and 1, e.g. --validate-at 1/16,1/8,1/4,1/2.") from None
    return tuple(out)


def _curve_text(curve: list[dict] | None) -> str:
    """``"; curve 50 it 12.3, 100 it 40.1"`` (validation Dice % after so many iterations), or ``""``."""
    if not curve:
        return ""
    points = [f"{p['iterations']} it " + ("n/a" if p["dice"] is None else f"{100 * p['dice']:.1f}") for p in curve]
    return "; curve " + ", ".join(points)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xtiny.nnunet.names import resolve_dataset_name
    from xtiny.paths import ensure_nnunet_env
    from xtiny.training.schedules.confirm import resolve_auto_configuration

    ensure_nnunet_env()
    name = resolve_dataset_name(args.dataset)
    if "," in args.configuration:
        return _train_family(args, name)
    spec = spec_from_args(args)
    configuration = resolve_auto_configuration(name, args.configuration)
    from xtiny.models import is_baseline

    if is_baseline(configuration) and args.backend != "monai":
        from xtiny.errors import XTinyError

        raise XTinyError(f"'{configuration}' is a baseline architecture, not an nnU-Net plans configuration; "
                         "nnU-Net's trainer cannot build it.",
                         fix=f"train it with the MONAI backend: xtiny train -d {args.dataset} -c {configuration} "
                             "--backend monai (same data, patch and batch size as 2d).")
    if args.backend == "monai":
        from xtiny.training.backends.monai_backend import train_monai as train
    else:
        from xtiny.training.backends.nnunet_backend import train_nnunet as train
    from xtiny.training.backends.family_plan import member_seed

    seed = member_seed(spec.seed, configuration)  # the initialisation this network gets in a family run too
    if args.backend != "monai":
        import torch

        torch.manual_seed(seed)
    curve = parse_fractions(args.validate_at)
    from xtiny.training.backends.monai_backend import check_validate_at

    check_validate_at(args.backend, curve, spec.epochs)
    extra = {"validate_at": curve} if curve else {}
    result = train(name, configuration, replace(spec, seed=seed), continue_training=args.continue_training,
                   teacher=args.teacher, **extra)
    dice = "n/a" if result.validation_dice is None else f"{100 * result.validation_dice:.2f}%"
    print(f"trained {configuration} of {name} ({args.backend} backend, {result.trainer_name}, fold {result.fold}) "
          f"in {result.seconds:.0f} s; validation Dice {dice}{_curve_text(result.extra.get('validation_curve'))}")
    if spec.kd:
        print(f"distilled from {result.extra['teacher']} ({spec.kd_loss} KD, alpha {spec.kd[0]:g}, T {spec.kd[1]:g})")
    print(f"wrote {result.checkpoint}")
    from xtiny.training.backends.nnunet_cli import nnunet_cli_hint

    print(nnunet_cli_hint(name, configuration, result.trainer_name, result.fold, args.device))
    return 0


def _train_family(args: argparse.Namespace, dataset_name: str) -> int:
    """``-c a,b,c``: one family run (:func:`xtiny.training.backends.family_run.train_family`)."""
    from xtiny.errors import XTinyError
    from xtiny.training.backends.family_plan import split_configurations
    from xtiny.training.backends.family_run import train_family
    from xtiny.training.backends.nnunet_cli import nnunet_cli_hint
    from xtiny.training.schedules.confirm import resolve_auto_configuration

    if args.teacher is not None or args.continue_training:
        raise XTinyError(f"--{'teacher' if args.teacher is not None else 'continue'} is for one configuration; "
                         "a family run trains without a teacher and resumes by itself.",
                         fix="leave it out (rerun the same command to resume a family run), or train one "
                             "configuration with -c NAME.")
    names = [resolve_auto_configuration(dataset_name, c) for c in split_configurations(args.configuration)]
    spec = spec_from_args(args)
    results = train_family(dataset_name, names, spec, validate_at=parse_fractions(args.validate_at))
    print(f"family run of {dataset_name} ({args.backend} backend, {spec.trainer_name}, fold {spec.fold}): "
          f"{len(results)} networks on one batch stream")
    if spec.online_kd:
        print(f"online KD: {results[0].extra['online_kd']['teacher']} taught the others ({spec.kd_loss} KD, alpha "
              f"{spec.kd[0]:g}, T {spec.kd[1]:g}, after a warm-up of {spec.kd_warmup:g} of the schedule)")
    for result in results:
        dice = "n/a" if result.validation_dice is None else f"{100 * result.validation_dice:.2f}%"
        how = "read back (finished earlier)" if result.extra.get("read_back") else "trained"
        print(f"  {result.configuration:>14}: validation Dice {dice} ({how}, {result.trainer_name}); "
              f"{result.checkpoint}{_curve_text(result.extra.get('validation_curve'))}")
    print(nnunet_cli_hint(dataset_name, names[0], results[0].trainer_name, spec.fold, args.device))
    return 0
