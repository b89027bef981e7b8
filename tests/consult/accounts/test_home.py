"""The home page: a tile for every place the navigation offers, per role."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from consult.accounts.models import Role
from tests.consult.scheduling.test_pages import BUILDERS

pytestmark = pytest.mark.django_db

FEATURES = (
    "records:patient-list",
    "scheduling:calendar",
    "rooms:list",
    "scheduling:book",
    "scheduling:mdt",
    "emergency:crew",
    "emergency:board",
    "guidance:list",
)


def _hrefs(html: str, start: str, end: str) -> set[str]:
    block = html[html.index(start) :]
    block = block[: block.index(end)]
    return set(re.findall(r'href="([^"]+)"', block))


@pytest.mark.parametrize("role", list(BUILDERS))
def test_home_tiles_offer_what_the_navigation_offers(client: Client, role: str) -> None:
    """Paramedics find the ambulance, operators the inbound board, trainees
    the operations, each as a tile as well as in the navigation."""
    client.force_login(BUILDERS[role]())
    html = client.get(reverse("home")).content.decode()
    nav = _hrefs(html, '<nav class="nav"', "</nav>")
    tiles = _hrefs(html, '<div class="home-tiles">', "\n</div>")
    features = {reverse(name) for name in FEATURES}
    assert nav & features == tiles & features
    expected = {
        Role.PARAMEDIC: "emergency:crew",
        Role.OPERATOR: "emergency:board",
        Role.TRAINEE: "guidance:list",
        Role.SURGEON: "guidance:list",
        Role.NURSE: "scheduling:book",
        Role.SPECIALIST: "rooms:list",
    }.get(role)
    if expected:
        assert reverse(expected) in tiles


@pytest.mark.parametrize("role", [Role.TRAINEE, Role.ADMINISTRATOR])
def test_roles_without_clinical_access_are_not_offered_the_patient_list(
    client: Client, role: str
) -> None:
    """The list would only answer "not permitted" (and audit a refusal)."""
    client.force_login(BUILDERS[role]())
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("records:patient-list")}"' not in html
