"""The ground floor: every way XTiny talks to nnU-Net v2, in one place.

Every layer above (search, training, export, evaluation, the CLI) reads plans, the fold split, checkpoints,
networks and preprocessed cases through this package, and this package imports nothing of XTiny above it
(only the base utilities :mod:`xtiny.errors`, :mod:`xtiny.atomic`, :mod:`xtiny.paths`). The rule is enforced by
import-linter in ``make lint`` (see ``docs/DEVELOPING.md``).

* :mod:`.names` — dataset ids and names;
* :mod:`.plans` — plans files, configuration resolution (nnU-Net's ``PlansManager``), preprocessed folders;
* :mod:`.planning` — fingerprint → plan → preprocess;
* :mod:`.splits` — the fold split, nnU-Net's one rule;
* :mod:`.checkpoints` — safe checkpoint loading and atomic saving;
* :mod:`.networks` — networks built from plans exactly as nnU-Net builds them;
* :mod:`.cases` — preprocessed cases read with nnU-Net's dataset class;
* :mod:`.trained` — trained model folders in nnU-Net's results layout.
"""
