"""`xtiny predict`: run an XTiny edge bundle on a folder of images (numpy + onnxruntime only)."""

import argparse

HELP = "segment images with an exported edge bundle (no torch needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="edge bundle written by 'xtiny export': its 'edge' folder, or the export folder holding it")
    parser.add_argument("-i", "--input", required=True, help="folder of images named CASE_XXXX<ending>")
    parser.add_argument("-o", "--output", required=True, help="output folder for CASE<ending> label maps")
    parser.add_argument("--no-mirroring", action="store_true", help="disable mirroring test-time augmentation")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime CPU threads")
    parser.add_argument("--model", default="fp32", help="fp32 (default), int8 or int8_qoperator")


def run(args: argparse.Namespace) -> int:
    import time

    from xtiny.edge import EdgePredictor

    start = time.perf_counter()
    predictor = EdgePredictor(args.bundle, variant=args.model, mirroring=not args.no_mirroring, threads=args.threads)
    written = predictor.predict_folder(args.input, args.output)
    print(f"[predict] {len(written)} case(s) segmented with {predictor.bundle.model_path(args.model).name} "
          f"in {time.perf_counter() - start:.1f}s -> {args.output}")
    return 0
