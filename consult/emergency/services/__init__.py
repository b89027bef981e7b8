"""Writes on emergency cases: open, pre-admit, activate teams, arrive, hand over.

Every write runs in one transaction, passes the records gate for the case's
patient (audited), records a timeline event, and queues fan-out for after
the commit. Vitals ingest lives in ``consult.emergency.ingest``.

By responsibility:

* ``cases``: open a case for an unidentified patient; the crew corrects it.
* ``steps``: the status steps: depart, arrive, hand over, divert, close.
* ``admission``: accept and pre-admit into a department and bay.
* ``teams``: activate the hospital's teams; members acknowledge.
* ``subscriptions``: the crew's and the board's audited subscriptions.
* ``location``: the vehicle's position and its ETA.
* ``attachments``: photos and ECG printouts, stored encrypted.

Callers import the package (``from consult.emergency import services``) and
use the names below; the modules are its layout, not its API.
"""

from consult.emergency.services._common import Action, InvalidTransition, Status
from consult.emergency.services.admission import (
    Acceptance,
    case_accept,
    check_case_accept,
    do_case_accept,
)
from consult.emergency.services.attachments import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENT_BYTES,
    AttachmentRefused,
    attachment_add,
    attachment_read,
)
from consult.emergency.services.cases import (
    RECEIVING_SPECIALTIES,
    case_open,
    case_update,
)
from consult.emergency.services.location import location_record
from consult.emergency.services.steps import (
    DIVERT_REASONS,
    case_arrive,
    case_close,
    case_depart,
    case_divert,
    case_handover,
)
from consult.emergency.services.subscriptions import (
    board_open,
    case_subscribe,
    crew_session_open,
)
from consult.emergency.services.teams import team_acknowledge, team_activate

__all__ = [
    "ATTACHMENT_TYPES",
    "DIVERT_REASONS",
    "MAX_ATTACHMENT_BYTES",
    "RECEIVING_SPECIALTIES",
    "Acceptance",
    "Action",
    "AttachmentRefused",
    "InvalidTransition",
    "Status",
    "attachment_add",
    "attachment_read",
    "board_open",
    "case_accept",
    "case_arrive",
    "case_close",
    "case_depart",
    "case_divert",
    "case_handover",
    "case_open",
    "case_subscribe",
    "case_update",
    "check_case_accept",
    "crew_session_open",
    "do_case_accept",
    "location_record",
    "team_acknowledge",
    "team_activate",
]
