"""`isomix tokens create EMAIL`: a personal API token for a user, e.g. for a script run on
their behalf. The secret is printed once, alone on the last line; only its hash is kept."""

from __future__ import annotations

import argparse
from typing import Any

from isomix.commands.users import CommandError, find_user, handled, new_session, open_database


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tokens",
        help="create API tokens for users",
        description="API tokens for users (`Authorization: Bearer isk_...`).",
    )
    actions = parser.add_subparsers(dest="tokens_action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="a new API token for a user (shown once)",
        description="Create an API token for the user and print it once: the secret is the "
        "last line of the output (`isomix tokens create EMAIL | tail -n 1`). It cannot be "
        "shown again; the user can revoke it in their account.",
    )
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--name", default="", help='what it is for (default: "API token")')
    create.set_defaults(handler=run_create)


@handled
def run_create(args: argparse.Namespace) -> int:
    from isomix import audit
    from isomix.accounts import tokens

    open_database()
    with new_session() as session:
        user = find_user(session, args.email)
        if user.disabled_at is not None:
            raise CommandError(f"{user.email} is disabled; a token for it would not work")
        row, secret = tokens.create_api_token(session, user, args.name)
        audit.record(
            "token_created",
            email=user.email,
            object_type="token",
            object_id=row.id,
            detail={"for": user.email, "name": row.name, "by": "cli"},
            session=session,
        )
        session.commit()
        print(f"API token {row.name!r} for {user.email} (id {row.id}).")
        print("It is shown this once and cannot be read back; keep it now:")
        print(secret)
    return 0
