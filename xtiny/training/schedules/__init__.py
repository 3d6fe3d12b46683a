"""Schedules: the plans of work that decide which trainings to run and where. The oracle sweep and its executors
(:mod:`.sweep`), confirm (:mod:`.confirm`, its record :mod:`.confirm_record`) and Ray (:mod:`.ray_cluster`). They
run the trainings of :mod:`xtiny.training.backends`."""
