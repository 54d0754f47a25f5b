"""Operators' commands on the staff side (``make staff-user``, ``make staff-admin``,
``make audit-verify``).

``python -m buzon.commands staff-user EMAIL ROLE [AREA ...]`` creates or updates an
account without asking anything: the password comes from ``STAFF_PASSWORD`` or
standard input (never from the command line, where ``ps`` would show it). When
the role needs a second factor and the account has none, the TOTP provisioning
URI (``otpauth://…``) is printed: open it, or its QR code, in an authenticator
app. ``staff-admin`` asks for the first administrator's e-mail and password.
``audit-verify`` checks the audit log's chain.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from buzon import wiring
from buzon.staff.permissions import Role
from buzon.validation import Invalid


def _password_from_environment_or_stdin() -> str:
    password = os.environ.get("STAFF_PASSWORD")
    if password:
        return password
    if sys.stdin.isatty():
        return getpass.getpass("Password (12 characters or more): ")
    return sys.stdin.readline().rstrip("\n")


def _save(
    email: str, role: str, areas: list[str], password: str | None, new_second_factor: bool
) -> int:
    wired = wiring.check()
    try:
        saved = wired.accounts.save(email, role, areas, password, new_second_factor)
    except Invalid as error:
        print(f"refused: {error.reason} {error.details or ''}".rstrip(), file=sys.stderr)
        return 2
    account = saved.account
    wired.audit.record(
        None,
        "operator",
        "save_account",
        f"staff#{account.id}",
        role=account.role.value,
        areas=sorted(account.areas),
    )
    print(
        f"account {account.email}: {account.role.value}"
        + (f" ({', '.join(sorted(account.areas))})" if account.areas else "")
    )
    if saved.totp_uri:
        print("second factor (scan or open in an authenticator app):")
        print(saved.totp_uri)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("staff-user", help="create or update an account")
    user.add_argument("email")
    user.add_argument("role", choices=[r.value for r in Role])
    user.add_argument("areas", nargs="*", help="area keys of buzon/data/routing.yml")
    user.add_argument("--keep-password", action="store_true", help="change role or areas only")
    user.add_argument(
        "--new-second-factor", action="store_true", help="replace the TOTP secret (a lost phone)"
    )
    commands.add_parser("staff-admin", help="the first administrator, interactively")
    commands.add_parser("audit-verify", help="check the audit log's chain")
    args = parser.parse_args(argv)

    if args.command == "staff-user":
        password = None if args.keep_password else _password_from_environment_or_stdin()
        sys.exit(_save(args.email, args.role, args.areas, password, args.new_second_factor))
    if args.command == "staff-admin":
        email = input("Administrator e-mail: ").strip()
        password = getpass.getpass("Password (12 characters or more): ")
        if getpass.getpass("The password again: ") != password:
            print("refused: the passwords differ", file=sys.stderr)
            sys.exit(2)
        sys.exit(_save(email, Role.ADMINISTRATOR.value, [], password, False))
    broken = wiring.check().audit.verify()
    if broken is None:
        print("audit log: the chain is whole")
        return
    where = "the last entries were removed" if broken == 0 else f"entry {broken} was changed"
    print(f"audit log: BROKEN ({where})")
    sys.exit(1)


if __name__ == "__main__":
    main()
