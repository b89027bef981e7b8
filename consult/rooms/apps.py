from django.apps import AppConfig


class RoomsConfig(AppConfig):
    """Consultation and MDT rooms: membership, signaling, chat, quality."""

    name = "consult.rooms"
    label = "rooms"
    verbose_name = "Rooms"
