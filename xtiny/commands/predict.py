"""`xtiny predict`: run an XTiny edge bundle on a folder of images (numpy + onnxruntime, or OpenVINO; no torch)."""

import argparse

HELP = "segment images with an exported edge bundle (no torch needed)"
NEEDS_NNUNET = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="edge bundle written by 'xtiny export': its 'edge' folder, or the export folder holding it")
    parser.add_argument("-i", "--input", required=True, help="folder of images named CASE_XXXX<ending>")
    parser.add_argument("-o", "--output", required=True, help="output folder for CASE<ending> label maps and predict.log")
    parser.add_argument("--engine", default="auto",
                        help="ort (onnxruntime), openvino (pip install 'xtiny[openvino]') or auto (default: time "
                             "both on the first batch, keep the faster; the choice goes to OUTPUT/predict.log)")
    mirroring = parser.add_mutually_exclusive_group()
    mirroring.add_argument("--mirroring", dest="mirroring", action="store_true", default=False,
                           help="mirroring test-time augmentation as nnU-Net (4x the network passes in 2D, 8x in 3D)")
    mirroring.add_argument("--no-mirroring", dest="mirroring", action="store_false",
                           help="no mirroring (the default)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the physical cores)")
    parser.add_argument("--batch", type=int, default=None,
                        help="tiles per network call, across slices and images (default: 2 per thread, memory permitting)")
    parser.add_argument("--model", default="fp32", help="fp32 (default), int8 or int8_qoperator")


def run(args: argparse.Namespace) -> int:
    import time

    from xtiny.edge import EdgePredictor

    start = time.perf_counter()
    predictor = EdgePredictor(args.bundle, variant=args.model, engine=args.engine, mirroring=args.mirroring,
                              threads=args.threads, batch_size=args.batch)
    written = predictor.predict_folder(args.input, args.output)
    info = predictor.summary()
    notice = info["choice"].get("notice")
    if notice:
        print(f"[predict] {notice}")
    print(f"[predict] {len(written)} case(s) segmented with {predictor.model_path.name} on {info['engine']} "
          f"({predictor.threads} thread(s), batch {predictor.batch_size}, mirroring "
          f"{'on' if predictor.mirroring else 'off'}) in {time.perf_counter() - start:.1f}s -> {args.output}")
    return 0
