"""Vital signs: a deterministic simulator, NEWS2 scoring and the overlay layer."""

from media_core.vitals.layer import VitalsLayer
from media_core.vitals.model import ACVPU_LEVELS, Vitals, VitalsFeed
from media_core.vitals.news2 import Band, News2, news2
from media_core.vitals.scenarios import SCENARIOS, Scenario, Trend
from media_core.vitals.simulator import KINDS, VitalsSimulator

__all__ = [
    "ACVPU_LEVELS",
    "KINDS",
    "SCENARIOS",
    "Band",
    "News2",
    "Scenario",
    "Trend",
    "Vitals",
    "VitalsFeed",
    "VitalsLayer",
    "VitalsSimulator",
    "news2",
]
