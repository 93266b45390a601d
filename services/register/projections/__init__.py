"""The register's read models, one writer each, every one rebuildable from zero from the register's log.

- `register_views` (RegisterViews): `register_pupils`, every pupil on a roll now, and `register_timeline`,
  one row per change of school, status or needs, dated by when it took effect (the register of any
  school, or of the whole LA, as it stood on any date);
- `pupil_history` (PupilHistoryView): a pupil's full history in words, and their SEN status history;
- `access_grants` (AccessGrantsView): the parents and young people who may see each pupil's record now.

What they are read by is in services/register/queries.py. None holds a child looked after's protected
address.
"""

from services.register.projections.access_grants import AccessGrantsView
from services.register.projections.pupil_history import PupilHistoryView
from services.register.projections.register_views import RegisterViews

__all__ = ["AccessGrantsView", "PupilHistoryView", "RegisterViews"]
