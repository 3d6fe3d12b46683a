"""`xtiny evaluate`: metrics, costs, comparison table and plots of trained models on the held-out split."""

import argparse

HELP = "evaluate trained models on the held-out split: per-case metrics, costs, table and plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("-c", "--configurations", nargs="+", required=True, metavar="CONFIG",
                        help="configurations / model names to compare (e.g. 2d 2d_xtiny8 unext cmunext_s tinyunet)")
    parser.add_argument("--fold", default="0", help="fold of splits_final.json (default 0)")
    parser.add_argument("--split", default="val", choices=["val", "train"], help="cases to evaluate (default val)")
    parser.add_argument("--trainer", default=None, help="only use results of this trainer class")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation in nnU-Net's predictor")
    parser.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")


def run(args: argparse.Namespace) -> int:
    from xtiny.evaluation.evaluate import InferenceSettings, evaluate_models
    from xtiny.paths import ensure_nnunet_env

    ensure_nnunet_env()
    fold = args.fold if args.fold == "all" else int(args.fold)
    inference = InferenceSettings(device=args.device, use_mirroring=args.tta, latency=not args.no_latency)
    summary = evaluate_models(args.dataset, args.configurations, fold=fold, split=args.split, trainer=args.trainer,
                              inference=inference)
    files = summary["files"]
    print(open(files["table"], encoding="utf-8").read())
    print(f"wrote {files['csv']}, {files['summary']}, {files['table']} and {len(files['figures'])} figures")
    return 0
