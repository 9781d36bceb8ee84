"""The service layer: what goalflow does, without HTTP. The API routes, `goalflow.client`, the
benchmarks and the tests call it; it stands on `goalflow.core` and `workflows/` only.

- `contacts.py`: `GoalflowService` (automations from `automations.py`, then contacts,
  enrollments, events);
- `events.py`: events built, cut into updates, grouped by contact and sent;
- `bulk.py`: bulk enrollment jobs;
- `visibility.py`: enrollments as Temporal visibility lists and counts them;
- `inputs.py`: the event and contact models every caller validates with;
- `errors.py`: the domain errors (`NotFound`, `Conflict`, ...) that the API maps to statuses.
"""
