"""The handoff report: ATMIST(ER) and IMIST-AMBO from the case, with the vitals trend.

Formats follow ``research/clinical-and-market.md`` section 3.2. For medical
(non-trauma) patients ATMIST's M and I carry the medical problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from consult.emergency import casetext, vitals
from consult.emergency.casetext import CaseText
from consult.emergency.models import Category, EmergencyCase, StreamKind, VitalsBatch
from consult.emergency.selectors import case_get, case_summary, news2_history, timeline
from consult.records.access import patient_access
from consult.records.context import AccessContext
from consult.records.models import AuditEvent

TREND_POINTS = 12
CHILD_UNDER = 16
_LABELS = {
    "hr": ("HR", "/min"),
    "rr": ("RR", "/min"),
    "sbp": ("SBP", "mmHg"),
    "dbp": ("DBP", "mmHg"),
    "spo2": ("SpO2", "%"),
    "temp_c": ("Temp", "°C"),
    "etco2": ("EtCO2", "mmHg"),
    "gcs": ("GCS", ""),
    "glucose": ("BM", "mmol/L"),
}


@dataclass(frozen=True, slots=True)
class HandoffReport:
    """Everything the receiving team needs in 30 seconds, and the trend behind it."""

    case: dict[str, Any]
    generated_at: datetime
    atmist: list[tuple[str, str, str]]
    imist_ambo: list[tuple[str, str, str]]
    trend: list[dict[str, Any]]
    news2_history: list[dict[str, Any]]
    timeline: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form: each format as a list of ``{letter, heading, text}``."""

        def rows(items: list[tuple[str, str, str]]) -> list[dict[str, str]]:
            return [{"letter": a, "heading": b, "text": c} for a, b, c in items]

        return {
            "case": self.case,
            "generated_at": self.generated_at.isoformat(),
            "atmist": rows(self.atmist),
            "imist_ambo": rows(self.imist_ambo),
            "trend": self.trend,
            "news2_history": self.news2_history,
            "timeline": self.timeline,
        }


def _fmt_value(name: str, value: Any) -> str:
    if name == "supplemental_o2":
        return "on oxygen" if value else "on air"
    if name == "acvpu":
        return f"ACVPU {value}"
    label, unit = _LABELS.get(name, (name, ""))
    number = f"{value:.1f}" if name == "temp_c" else f"{round(value)}"
    return f"{label} {number}{(' ' + unit) if unit else ''}"


def signs_text(latest: dict[str, Any], news: dict[str, Any]) -> str:
    """The latest plausible vitals and NEWS2 in one line."""
    values = {k: v["v"] for k, v in latest.items()}
    parts = []
    if "sbp" in values and "dbp" in values:
        parts.append(f"BP {round(values.pop('sbp'))}/{round(values.pop('dbp'))} mmHg")
    order = ("hr", "rr", "spo2", "supplemental_o2", "temp_c", "acvpu", "gcs", "etco2")
    parts += [_fmt_value(k, values[k]) for k in order if k in values]
    parts += [_fmt_value(k, v) for k, v in values.items() if k not in order]
    if news.get("total") is not None:
        parts.append(f"NEWS2 {news['total']} ({news['band']}, {news['trend']})")
    return ", ".join(parts) or "No vitals recorded."


def vitals_trend(case: EmergencyCase) -> list[dict[str, Any]]:
    """Up to ``TREND_POINTS`` numerics sets spread over the case, ends included."""
    rows = list(
        VitalsBatch.objects.filter(case=case, kind=StreamKind.NUMERICS)
        .order_by("sample_t0")
        .values("sample_t0", "payload", "flags")
    )
    if len(rows) > TREND_POINTS:
        step = (len(rows) - 1) / (TREND_POINTS - 1)
        rows = [rows[round(i * step)] for i in range(TREND_POINTS)]
    trend = []
    for row in rows:
        valid, flags = vitals.check_numerics(row["payload"].get("values", {}))
        trend.append({"at": row["sample_t0"].isoformat(), **valid, "flags": flags})
    return trend


def _trend_text(history: list[dict[str, Any]]) -> str:
    if len(history) < 2:
        return ""
    first, last = history[0], history[-1]
    return f"NEWS2 {first['total']} → {last['total']} over the journey."


def _age_text(case: EmergencyCase) -> str:
    if case.estimated_age is None:
        return f"Age unknown, {case.get_sex_display().lower()}"
    group = "child" if case.estimated_age < CHILD_UNDER else "adult"
    return (
        f"Estimated {case.estimated_age} years ({group}), "
        f"{case.get_sex_display().lower()}"
    )


def _time_text(case: EmergencyCase, summary: dict[str, Any]) -> str:
    local = timezone.localtime
    parts = [f"Call {local(case.call_received_at):%H:%M}"]
    if case.arrived_at:
        parts.append(f"arrived {local(case.arrived_at):%H:%M}")
    elif summary["eta_s"] is not None:
        parts.append(f"ETA {round(summary['eta_s'] / 60)} min")
    return ", ".join(parts)


def _requirements(summary: dict[str, Any]) -> str:
    parts = []
    if summary["encounter"]:
        enc = summary["encounter"]
        bay = f", bay {enc['bay']}" if enc["bay"] else ""
        parts.append(f"{enc['department']['name']}{bay}")
    parts += [f"{a['team']['name']} activated" for a in summary["activations"]]
    return "; ".join(parts) or "None requested."


def build(case: EmergencyCase, text: CaseText) -> HandoffReport:
    """The report from a case and its decrypted text (no access check here)."""
    summary = case_summary(case)
    history = news2_history(case)
    signs = signs_text(case.latest_vitals, summary["news2"])
    trauma = case.category == Category.TRAUMA
    medical = text.chief_complaint or case.get_category_display()
    mechanism = text.mechanism if trauma or text.mechanism else medical
    injuries = text.injuries or ("None found." if trauma else medical)
    treatment = text.treatment or "None given."
    trend_text = _trend_text(history)
    eta = f"{round(summary['eta_s'] / 60)} min" if summary["eta_s"] is not None else "—"
    atmist = [
        ("A", "Age and sex", _age_text(case)),
        ("T", "Time", _time_text(case, summary)),
        ("M", "Mechanism" if trauma else "Medical problem", mechanism),
        ("I", "Injuries" if trauma else "Information", injuries),
        ("S", "Signs", signs),
        ("T", "Treatment", treatment),
        ("E", "ETA", eta),
        ("R", "Requirements", _requirements(summary)),
    ]
    identification = (
        f"Unknown patient, {_age_text(case).lower()}; "
        f"{case.get_category_display()}; crew {case.crew.call_sign}"
    )
    imist_ambo = [
        ("I", "Identification", identification),
        ("M", "Mechanism / medical complaint", mechanism),
        ("I", "Injuries / information", injuries),
        ("S", "Signs", signs),
        ("T", "Treatment and trends", f"{treatment} {trend_text}".strip()),
        ("A", "Allergies", text.allergies or "Not known."),
        ("M", "Medications", text.medications or "Not known."),
        ("B", "Background", text.background or "Not known."),
        ("O", "Other", text.other or "—"),
    ]
    return HandoffReport(
        case=summary,
        generated_at=timezone.now(),
        atmist=atmist,
        imist_ambo=imist_ambo,
        trend=vitals_trend(case),
        news2_history=history,
        timeline=timeline(case),
    )


def handoff_report(*, actor: Any, case_id: object, ctx: AccessContext) -> HandoffReport:
    """The handoff report of a case in the actor's reach; audited as a read."""
    case = case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=AuditEvent.Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_handoff", str(case.pk)
        return build(case, casetext.unseal(case))
