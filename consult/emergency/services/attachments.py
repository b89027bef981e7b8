"""Photos and ECG printouts of a case, stored encrypted and read audited."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from consult.emergency import casetext
from consult.emergency.models import Attachment, CaseEvent
from consult.emergency.selectors import case_get, crew_case_get
from consult.emergency.services._common import Action, _event, _publish
from consult.exceptions import ConsultError, NotFound
from consult.records.access import patient_access
from consult.records.context import AccessContext

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"%PDF-": "application/pdf",
}


class AttachmentRefused(ConsultError):
    """The upload is too large or not an accepted type."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


def _sniff(data: bytes) -> str | None:
    for magic, content_type in ATTACHMENT_TYPES.items():
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def attachment_add(
    *, actor: Any, case_id: object, data: bytes, kind: str, ctx: AccessContext
) -> Attachment:
    """Attach a photo or an ECG printout; stored encrypted, never public.

    The type comes from the bytes, not the client's claim. Raises
    ``AttachmentRefused`` (``too_large``, ``unsupported_type``).
    """
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused("At most 10 MB.", code="too_large")
    content_type = _sniff(data)
    if content_type is None:
        raise AttachmentRefused("Only JPEG, PNG, WebP or PDF.", code="unsupported_type")
    case = crew_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        attachment_id = uuid.uuid4()
        blob, key_id = casetext.seal_bytes(data, attachment_id=attachment_id)
        name = default_storage.save(
            f"emergency/{case.pk}/{attachment_id.hex}.bin", ContentFile(blob)
        )
        attachment = Attachment(
            id=attachment_id,
            case=case,
            kind=kind,
            content_type=content_type,
            size=len(data),
            storage_name=name,
            key_id=key_id,
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=actor,
        )
        attachment.full_clean()
        attachment.save(force_insert=True)
        _event(
            case, CaseEvent.Kind.ATTACHMENT, actor, {"attachment": str(attachment_id)}
        )
        grant.object_type, grant.object_id = "emergency_attachment", str(attachment_id)
        _publish(case)
        return attachment


def attachment_read(
    *, actor: Any, case_id: object, attachment_id: object, ctx: AccessContext
) -> tuple[bytes, str]:
    """The decrypted bytes and type of one attachment; audited as a read."""
    case = case_get(actor, case_id)
    try:
        pk = uuid.UUID(str(attachment_id))
    except ValueError as exc:
        raise NotFound() from exc
    attachment = Attachment.objects.filter(case=case, pk=pk).first()
    if attachment is None:
        raise NotFound()
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_attachment", str(pk)
        with default_storage.open(attachment.storage_name, "rb") as handle:
            blob = handle.read()
        data = casetext.unseal_bytes(
            blob, attachment_id=attachment.pk, key_id=attachment.key_id
        )
        return data, attachment.content_type
