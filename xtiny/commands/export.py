"""`xtiny export`: a trained checkpoint → ONNX, INT8, TorchScript, MONAI bundle, XTiny edge bundle."""

import argparse

HELP = "export a trained model to ONNX / INT8 / TorchScript / MONAI bundle / XTiny edge bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("-c", "--configuration", required=True, help="trained configuration, e.g. 2d_xtiny8")
    parser.add_argument("--fold", default="0", help="fold (default 0; 'all' allowed)")
    parser.add_argument("--format", default="onnx,int8,torchscript,monai,bundle",
                        help="comma-separated subset of onnx,int8,torchscript,monai,bundle, or 'all'")
    parser.add_argument("-o", "--output", default=None, help="output folder (default: xtiny/export/<config>_fold<F>)")
    parser.add_argument("--trainer", default=None, help="trainer name when several trained this configuration")
    parser.add_argument("--checkpoint-name", default="checkpoint_final.pth")


def run(args: argparse.Namespace) -> int:
    from xtiny.export import ExportSettings, export_model, parse_formats
    from xtiny.paths import ensure_nnunet_env

    ensure_nnunet_env()
    fold = args.fold if args.fold == "all" else int(args.fold)
    settings = ExportSettings(formats=tuple(parse_formats(args.format)), trainer=args.trainer,
                              checkpoint_name=args.checkpoint_name)
    report = export_model(args.dataset, args.configuration, fold, settings, output_dir=args.output)
    for key, path in report["files"].items():
        print(f"  {key}: {path}")
    return 0
