"""Typed records of XTiny's JSON outputs: :mod:`.typed_json` (a dataclass ↔ its JSON object, every field checked on
the way in) and :mod:`.width_search` (the width search's ``search_<base>.json``). The confirm record, read and written
only from training upward, is :mod:`xtiny.training.schedules.confirm_record`."""
