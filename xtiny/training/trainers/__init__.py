"""Folder that ``nnUNet_extTrainer`` points to (see :func:`xtiny.training.trainer_classes.register_trainers`)."""
