"""`xtiny datasets`: validate, convert, synthesize or install nnU-Net raw datasets."""

from __future__ import annotations

import argparse

HELP = "validate / convert / synthesize nnU-Net raw datasets (validate, convert, synth, mni, colin27, lungct)"

SYNTH_KINDS = ("bus", "derm", "fundus", "echo", "cardiac", "brain3d")
SYNTH_IDS = {"bus": 501, "derm": 502, "fundus": 503, "echo": 504, "cardiac": 505, "brain3d": 506}
CONVERTERS = ("busbra", "echonet", "isic2018", "fives", "brats2021", "acdc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = sub.add_parser("validate", help="check a raw dataset the way nnU-Net would, before it does")
    p.add_argument("dataset", help="dataset folder, id or DatasetXXX_Name under nnUNet_raw")
    p.add_argument("--max-cases", type=int, default=None, help="read at most this many cases (default all)")
    p = sub.add_parser("convert", help="convert a published dataset layout into nnU-Net raw")
    p.add_argument("name", choices=CONVERTERS)
    p.add_argument("src", help="the extracted dataset folder (or .zip/.tar archive)")
    p.add_argument("--id", type=int, default=None, help="dataset id (default: the converter's)")
    p = sub.add_parser("synth", help="generate a synthetic dataset imitating one of the paper's datasets")
    p.add_argument("kind", choices=SYNTH_KINDS)
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256, help="image size in pixels (brain3d: volume edge)")
    p.add_argument("--id", type=int, default=None, help=f"dataset id (default: {SYNTH_IDS})")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 2 for >= 40 cases)")
    p.add_argument("--preview", action="store_true", help="also write preview.png (images + label overlays)")
    p = sub.add_parser("mni", help="2D 3-class brain tissue dataset from nilearn's MNI ICBM152 2009a template")
    p.add_argument("--id", type=int, default=None, help="dataset id (default 510)")
    p.add_argument("--preview", action="store_true", help="also write preview.png")
    p = sub.add_parser("colin27", help="2D 7-class brain lobe dataset: Colin27 T1 + AAL atlas from Debian's mricron-data")
    p.add_argument("--id", type=int, default=None, help="dataset id (default 520)")
    p.add_argument("--preview", action="store_true", help="also write preview.png")
    p = sub.add_parser("lungct", help="3D + 2D lung tumour CT datasets (6 patients) from the pycerr 2.5.1 wheel and "
                                      "the pyradiomics 3.0.1 sdist, fetched with pip into the download cache")
    p.add_argument("--id", type=int, default=None,
                   help="id of the 3D dataset; the 2D slice variant takes id + 1 (default 530)")
    p.add_argument("--fetch-only", action="store_true", help="only fetch and check the two archives")
    p.add_argument("--in-plane-step", type=int, default=1,
                   help="2D slices on an N mm grid (mean of N x N pixel blocks; default 1: 1 mm)")


def _validate(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from xtiny.datasets.validate import validate_dataset
    from xtiny.paths import nnunet_dirs

    folder = Path(args.dataset)
    if not folder.is_dir():
        from xtiny.nnunet.names import resolve_dataset_name

        folder = nnunet_dirs().raw / resolve_dataset_name(args.dataset)
    report = validate_dataset(folder, max_cases=args.max_cases)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    report.raise_if_fatal()
    print(f"{folder}: valid nnU-Net raw dataset ({report.num_cases} cases, {report.num_channels} channel(s), "
          f"labels {report.labels}); {len(report.problems)} warning(s).")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from xtiny.datasets.synth import generate_dataset
    from xtiny.paths import nnunet_dirs

    folder = generate_dataset(args.kind, dataset_id=args.id or SYNTH_IDS[args.kind], num_cases=args.cases,
                              seed=args.seed, size=args.size, raw_dir=nnunet_dirs().raw, workers=args.workers,
                              preview=args.preview)
    print(f"wrote synthetic '{args.kind}' dataset ({args.cases} cases, seed {args.seed}) to {folder}")
    if args.preview:
        print(f"preview: {folder / 'preview.png'}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xtiny.datasets.converters import convert
    from xtiny.paths import nnunet_dirs

    folder = convert(args.name, Path(args.src), raw_dir=nnunet_dirs().raw, dataset_id=args.id)
    print(f"converted {args.name} from {args.src} to {folder}")
    return 0


def _mni(args: argparse.Namespace) -> int:
    from xtiny.datasets.mni import build_mni_dataset
    from xtiny.paths import nnunet_dirs

    folder = build_mni_dataset(raw_dir=nnunet_dirs().raw, dataset_id=args.id or 510, preview=args.preview)
    print(f"wrote MNI ICBM152 tissue dataset to {folder}")
    return 0


def _colin27(args: argparse.Namespace) -> int:
    from xtiny.datasets.colin27 import build_colin27_dataset
    from xtiny.paths import nnunet_dirs

    folder = build_colin27_dataset(raw_dir=nnunet_dirs().raw, dataset_id=args.id or 520, preview=args.preview)
    print(f"wrote Colin27 + AAL lobe dataset to {folder}")
    return 0


def _lungct(args: argparse.Namespace) -> int:
    from xtiny.datasets.lungct import DEFAULT_ID, LUNGCT_ARCHIVES, build_lungct_dataset
    from xtiny.datasets.lungct_archives import ensure_archive, lungct_cache_dir
    from xtiny.paths import nnunet_dirs

    if args.fetch_only:
        for archive in LUNGCT_ARCHIVES:
            path = ensure_archive(archive)
            print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, sha256 {archive.sha256} checked")
        return 0
    built = build_lungct_dataset(raw_dir=nnunet_dirs().raw, dataset_id=DEFAULT_ID if args.id is None else args.id,
                                 in_plane_step=args.in_plane_step)
    print(f"wrote the lung CT datasets ({len(built.cases)} patients; archives in {lungct_cache_dir()}):\n"
          f"  3D (3d_fullres): {built.volumes}\n  2D slices (2d): {built.slices}\n"
          f"  folds by patient: splits_final.json in each and in nnUNet_preprocessed")
    return 0


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError
    from xtiny.paths import ensure_nnunet_env

    ensure_nnunet_env()
    actions = {"validate": _validate, "synth": _synth, "convert": _convert, "mni": _mni,
               "colin27": _colin27, "lungct": _lungct}
    if getattr(args, "action", None) not in actions:
        raise XTinyError("no action given.", fix="use 'xtiny datasets validate|convert|synth|mni|colin27|lungct ...' (see --help).")
    return actions[args.action](args)
