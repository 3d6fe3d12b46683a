"""nnU-Net's parameter update, shared by XTiny's trainers: backward (scaled under AMP), gradient-norm clipping at 12,
optimizer step."""

from __future__ import annotations

GRADIENT_CLIP_NORM = 12  # nnUNetTrainer.train_step's value


def clipped_optimizer_step(loss, network, optimizer, grad_scaler=None) -> None:
    """Backpropagate ``loss`` and step ``optimizer`` as nnU-Net does (``grad_scaler`` under CUDA AMP, else None)."""
    import torch

    if grad_scaler is not None:
        grad_scaler.scale(loss).backward()
        grad_scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(network.parameters(), GRADIENT_CLIP_NORM)
        grad_scaler.step(optimizer)
        grad_scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), GRADIENT_CLIP_NORM)
        optimizer.step()
