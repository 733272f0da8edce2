"""`python -m cli.users add | list | token | tokens | revoke-token | disable | enable | setup-link`: accounts, roles,
passwords and API tokens (data/users.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from data import store
from data.config import load_settings
from data.rules.workflow import ROLES
from data.store import operations as ops_store
from data.users import UserError, _engine, add_user, base_url, check_name, new_token, setup_banner


def read_password(stream=sys.stdin) -> str:
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise UserError("the two passwords differ")
        return first
    return stream.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.users", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user or change a user's role and password (password from stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    sub.add_parser("token", help="print a new bearer token for NAME").add_argument("name")
    sub.add_parser("list", help="list users and roles")
    sub.add_parser("disable", help="stop a user signing in (and revoke their tokens)").add_argument("name")
    sub.add_parser("enable", help="let a disabled user sign in again").add_argument("name")
    sub.add_parser("tokens", help="list NAME's tokens (hash prefix, created)").add_argument("name")
    sub.add_parser("revoke-token", help="revoke one token by its hash prefix (8+ characters)").add_argument("prefix")
    link = sub.add_parser("setup-link", help="no user yet: print a one-time link that creates the first admin")
    link.add_argument("--url", default=None, help="the server's base URL (default: from HOST and PORT)")
    args = parser.parse_args(argv)
    store.create_schema(_engine())  # the command may run before the app has ever started
    try:
        if args.command == "add":
            user = add_user(args.name, args.role, read_password())
            print(f"saved user {user.name} ({user.role})")
        elif args.command == "token":
            print(new_token(args.name))
        elif args.command == "tokens":
            for row in ops_store.tokens(_engine(), check_name(args.name)):
                created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["created_at"]))
                print(f"{row['token_hash'][:12]}\tcreated {created}")
        elif args.command == "revoke-token":
            if not ops_store.revoke_token(_engine(), args.prefix.strip().lower(), "cli", int(time.time())):
                raise UserError("no single token has that hash prefix (give 8+ characters, see `tokens NAME`)")
            print(f"revoked {args.prefix}")
        elif args.command == "setup-link":
            settings = load_settings()
            print(
                setup_banner(args.url or base_url(settings.host, settings.port)) or "a user exists: no link", flush=True
            )
        elif args.command == "list":
            for row in ops_store.list_users(_engine()):
                print("\t".join([row["name"], row["role"], *(["disabled"] if row["disabled"] else [])]))
        else:
            name, disable = check_name(args.name), args.command == "disable"
            if not ops_store.set_disabled(_engine(), name, disable, "cli", int(time.time())):
                raise UserError(f"no user {args.name!r}")
            print(f"{args.command}d {args.name}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
