from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, roles, organisations and device tokens."""

    name = "consult.accounts"
    label = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self) -> None:
        from consult.accounts import schema  # noqa: F401  (registers the OpenAPI scheme)
