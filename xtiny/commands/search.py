"""`xtiny search`: training-free width search (Jacobian sensitivity at initialization + knee rule)."""

from __future__ import annotations

import argparse

HELP = "find the smallest width before collapse, training-free (writes the xtiny configs + search.json/png)"


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """``-k``, ``--seeds``, ``--narrow-seeds``, ``--confidence`` and ``--fixed`` (shared with `xtiny run`)."""
    parser.add_argument("-k", type=int, default=None,
                        help="most unlabeled training images to probe (default: every training case; the stop rule "
                             "usually needs far fewer); with --fixed: exactly this many (default 32)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="most initialization seeds averaged (default: 3); with --fixed: exactly this many")
    parser.add_argument("--narrow-seeds", type=int, default=12,
                        help="most seeds a cheap candidate (MACs <= 1/8 of the widest's) may get where the bootstrap "
                             "contests the pick; the stop rule adds seeds there only (default: 12; nested draws only)")
    parser.add_argument("--confidence", type=float, default=None,
                        help="stop probing once this share of bootstrap resamples of the measured images and seeds "
                             "gives the same pick (default: 0.95)")
    parser.add_argument("--fixed", action="store_true",
                        help="no stop rule: probe exactly -k images with every seed (earlier releases' behaviour)")


def sampling_options(args: argparse.Namespace) -> dict:
    """``SearchSettings`` keywords (``k``, ``seeds``, ``narrow_seeds``, ``confidence``) of the sampling arguments; a
    clear error for --fixed with --confidence."""
    from xtiny.errors import XTinyError
    from xtiny.sensitivity import DEFAULT_CONFIDENCE

    if args.fixed and args.confidence is not None:
        raise XTinyError("--fixed and --confidence exclude each other: --fixed probes exactly -k images with every "
                         "seed, with no stop rule.", fix="drop one of them.")
    confidence = None if args.fixed else (DEFAULT_CONFIDENCE if args.confidence is None else args.confidence)
    return {"k": args.k, "seeds": args.seeds, "narrow_seeds": args.narrow_seeds, "confidence": confidence}


def add_caps_argument(parser: argparse.ArgumentParser) -> None:
    """``--caps``: the width caps of the family to search (shared with `xtiny run`)."""
    parser.add_argument("--caps", type=int, nargs="+", default=None,
                        help="width caps to try (default: max(features), /2, ..., 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name (planned + preprocessed)")
    parser.add_argument("-c", "--configuration", default="2d", help="base nnU-Net configuration (default: 2d)")
    add_sampling_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    parser.add_argument("--rule", default="tv", help="knee rule: tv (paper, default) or pwl (two-segment fit)")
    add_caps_argument(parser)
    parser.add_argument("--proxies", nargs="+", default=[],
                        help="extra zero-cost proxies to record: naswot synflow gradnorm snip zico")
    parser.add_argument("--no-cache", action="store_true", help="recompute every score (ignore the score cache)")
    parser.add_argument("--independent-init", action="store_true", help="no common random numbers: each width "
                        "draws its own initial weights (default: slices of the widest width's draw, per seed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from xtiny.nnunet.names import dataset_id_of
    from xtiny.paths import ensure_nnunet_env
    from xtiny.search import SearchSettings, format_table, run_search

    ensure_nnunet_env()
    settings = SearchSettings(device=args.device, rule=args.rule, caps=args.caps, proxies=tuple(args.proxies),
                              use_cache=not args.no_cache, nested_init=not args.independent_init,
                              **sampling_options(args))
    result = run_search(args.dataset, args.configuration, settings, progress=not args.quiet)
    print(format_table(result))
    if result.get("warning"):
        print(f"warning: {result['warning']}")
    print(f"rule {result['rule']} on {result['k']} images x {len(result['seeds'])} seeds ({result['device']}); "
          f"{result['timings']['total_s']:.1f} s")
    sampling = result["sampling"]
    if sampling["mode"] == "sequential":
        print(f"stop rule: {sampling['stopped_because']} after {len(sampling['rounds'])} round(s), "
              f"of at most {sampling['max_images']} images x {sampling['max_seeds']} seeds")
        extra = {c["name"]: len(c["seeds"]) for c in result["candidates"] if len(c["seeds"]) > len(result["seeds"])}
        if extra:
            print("narrow seeds: " + ", ".join(f"{name} {n}" for name, n in extra.items()))
    print(f"wrote {result['search_json']} and {result['search_png']}")
    print(f"configuration to train: {result['chosen']}  "
          f"(nnUNetv2_train {dataset_id_of(result['dataset'])} {result['chosen']} 0)")
    return 0
