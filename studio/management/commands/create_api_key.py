from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for USER and print it (it is stored hashed and cannot be shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="A label to tell the key apart later.")
        parser.add_argument(
            "--invoke-only",
            default="",
            metavar="PROJECT/ENDPOINT",
            help="Limit the key to invoking one endpoint.",
        )

    def handle(self, *args, username: str, name: str, invoke_only: str, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        try:
            _, key = api_key_create(user=user, name=name, invoke_only=invoke_only)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(key)
