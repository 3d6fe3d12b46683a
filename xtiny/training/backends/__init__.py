"""Backends: what trains one network or a family of them. nnU-Net's own trainer (:mod:`.nnunet_backend`), XTiny's
nnU-Net trainer classes (:mod:`.trainer_classes`; :mod:`.kd_trainer`; the folder :mod:`.trainers` that
``nnUNet_extTrainer`` points to), knowledge distillation (:mod:`.distill`), the MONAI backend (:mod:`.monai_backend`,
:mod:`.monai_data`), family runs (:mod:`.family_run`, :mod:`.family_plan`, :mod:`.family_nnunet`,
:mod:`.family_monai`, :mod:`.family_checkpoints`), the equal-time calibration (:mod:`.calibrate`), thread budgets
(:mod:`.threads`) and nnU-Net's own command line on XTiny's models (:mod:`.nnunet_cli`). Never imports
:mod:`xtiny.training.schedules`."""
