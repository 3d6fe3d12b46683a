"""Work every pool worker would repeat on its first task, done once in the forkserver that forks them.

Imported by the server of :mod:`xtiny.nnunet.worker_pools` (it is in ``WORKER_PRELOAD``). nnU-Net's 2D writer saves
segmentations through scikit-image and imageio, whose Pillow plugin calls ``PIL.Image.init()`` on first use: that
imports every Pillow image plugin, a few tenths of a second in each fresh worker on a 2-core machine, paid again by
every worker of every validation export. Done here, each forked worker starts with it done.
"""

from __future__ import annotations

from PIL import Image

Image.init()
