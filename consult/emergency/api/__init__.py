"""Emergency endpoints: cases, vitals ingest and backfill, pre-admission, teams.

Views parse, call one service or selector, and respond. Errors are
``{"detail": ..., "code": ...}`` with stable codes.

By resource:

* ``cases``: receiving hospitals, the case list (open a case), one case.
* ``admission``: accept and pre-admit, activate teams, acknowledge.
* ``steps``: depart, arrive, hand over, divert, close.
* ``uplink``: the phone's vitals batches and positions, its outbox keys, and
  the backfill of a vitals stream.
* ``reports``: timeline, handoff report, FHIR export.
* ``attachments``: upload and download photos and ECG printouts.

``urls.py`` uses the names below (``api.CaseListView``).
"""

from consult.emergency.api.admission import (
    AcceptSerializer,
    AcknowledgeView,
    ActivateSerializer,
    CaseAcceptView,
    CaseActivateView,
    TeamListView,
)
from consult.emergency.api.attachments import (
    AttachmentDetailView,
    AttachmentListView,
    AttachmentUploadSerializer,
)
from consult.emergency.api.cases import (
    TEXT_MAX,
    CaseDetailView,
    CaseListView,
    CaseOpenSerializer,
    CaseUpdateSerializer,
    HospitalListView,
    detail_json,
)
from consult.emergency.api.reports import FhirView, HandoffView, TimelineView
from consult.emergency.api.steps import (
    CaseArriveView,
    CaseCloseView,
    CaseDepartView,
    CaseDivertView,
    CaseHandoverView,
    CloseSerializer,
    ReasonSerializer,
)
from consult.emergency.api.uplink import (
    BackfillQuery,
    LocationSerializer,
    LocationView,
    OutboxKeyView,
    VitalsView,
)

__all__ = [
    "TEXT_MAX",
    "AcceptSerializer",
    "AcknowledgeView",
    "ActivateSerializer",
    "AttachmentDetailView",
    "AttachmentListView",
    "AttachmentUploadSerializer",
    "BackfillQuery",
    "CaseAcceptView",
    "CaseActivateView",
    "CaseArriveView",
    "CaseCloseView",
    "CaseDepartView",
    "CaseDetailView",
    "CaseDivertView",
    "CaseHandoverView",
    "CaseListView",
    "CaseOpenSerializer",
    "CaseUpdateSerializer",
    "CloseSerializer",
    "FhirView",
    "HandoffView",
    "HospitalListView",
    "LocationSerializer",
    "LocationView",
    "OutboxKeyView",
    "ReasonSerializer",
    "TeamListView",
    "TimelineView",
    "VitalsView",
    "detail_json",
]
