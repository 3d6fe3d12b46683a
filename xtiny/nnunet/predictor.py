"""nnU-Net's predictor, loaded from a trained model folder."""

from __future__ import annotations

from pathlib import Path


def trained_predictor(training_dir: Path, fold: int | str, checkpoint_name: str, device, *,
                      use_mirroring: bool = False):
    """An ``nnUNetPredictor`` (Gaussian sliding window, step 0.5, quiet) holding ``fold`` of ``training_dir``."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=use_mirroring,
                                perform_everything_on_device=device.type == "cuda", device=device, verbose=False,
                                allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(training_dir), use_folds=(fold,),
                                                   checkpoint_name=checkpoint_name)
    return predictor
