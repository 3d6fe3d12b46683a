"""Folder that ``nnUNet_extTrainer`` points to (see :func:`xtiny.training.register_trainers`)."""
