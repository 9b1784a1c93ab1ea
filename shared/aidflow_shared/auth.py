"""Who is calling: roles, agencies, and the signed tokens (JWT, HS256) that carry them.

All four services share one secret, issuer and audience, so a token minted once is accepted
everywhere; each service then decides per endpoint which roles may act. A token names a
subject, its roles and, for partner agencies, the agency it speaks for.

Keys rotate without a flag day: new tokens are signed with ``AIDFLOW_JWT_SECRET`` and carry its
key id (``kid``, a fingerprint of the key, never the key); ``AIDFLOW_JWT_PREVIOUS_SECRETS`` lists
the keys being retired, whose tokens verify until they expire (at most :data:`DEFAULT_TTL`
unless minted longer). Then the old key is dropped from the list.

``aidflow-token`` mints a token from the command line for operators and local testing.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import jwt

from aidflow_shared.settings import Settings

ROLES = (
    "intake_clerk",
    "reviewer",
    "department_head",
    "chief_procurator",
    "finance_officer",
    "followup_worker",
    "auditor",
    "partner_agency",
    "ops",
)
AGENCIES = (
    "procuratorate",
    "poverty-bureau",
    "civil-affairs",
    "youth-league",
    "womens-federation",
    "psych-center",
    "legal-aid",
    "village-committee",
    "finance-bureau",
)

ALGORITHM = "HS256"
LEEWAY = timedelta(seconds=30)  # clocks of different hosts drift a little
DEFAULT_TTL = timedelta(hours=8)  # one working day


class AuthError(Exception):
    """A token was refused; ``code`` is ``token_expired`` or ``token_invalid``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request."""

    subject: str
    roles: frozenset[str]
    agency: str | None = None

    def has_any(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


def mint_token(
    settings: Settings,
    subject: str,
    roles: Iterable[str],
    agency: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    """A signed token for ``subject`` with ``roles``, valid from now for ``ttl``."""
    roles = sorted(set(roles))
    _check_claims(subject, roles, agency)
    now = datetime.now(timezone.utc)
    claims = {
        "sub": subject,
        "roles": roles,
        "agency": agency,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM,
                      headers={"kid": key_id(settings.jwt_secret)})


def key_id(secret: str) -> str:
    """A short public fingerprint of a signing key: says which key signed, reveals nothing of it."""
    return hashlib.sha256(b"aidflow jwt kid\x00" + secret.encode("utf-8")).hexdigest()[:16]


def verify_token(settings: Settings, token: str) -> Principal:
    """The principal a token speaks for, or :class:`AuthError` if it cannot be trusted."""
    try:
        claims = jwt.decode(
            token,
            _verification_key(settings, token),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("token_invalid") from exc

    subject, roles, agency = claims["sub"], claims.get("roles"), claims.get("agency")
    try:
        _check_claims(subject, roles, agency)
    except ValueError as exc:
        raise AuthError("token_invalid") from exc
    return Principal(subject=subject, roles=frozenset(roles), agency=agency)


def _verification_key(settings: Settings, token: str) -> str:
    """The configured key the token names by ``kid``; a token without one is tried with the current key."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise AuthError("token_invalid") from exc
    if kid is None:
        return settings.jwt_secret
    for secret in settings.jwt_verification_secrets:
        if key_id(secret) == kid:
            return secret
    raise AuthError("token_invalid")  # signed with a key this deployment does not (or no longer) trust


def _check_claims(subject: object, roles: object, agency: object) -> None:
    """Refuse what no service could act on: no subject, no roles, unknown roles or agency."""
    if not isinstance(subject, str) or not subject:
        raise ValueError("the subject must be a non-empty string")
    if not isinstance(roles, list) or not roles:
        raise ValueError("at least one role is needed")
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles: {unknown!r}")
    if agency is not None and agency not in AGENCIES:
        raise ValueError(f"unknown agency: {agency!r}")


_TTL_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    """``30m``, ``8h`` or ``7d`` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text.lower())
    if not match or int(match[1]) == 0:
        raise ValueError(f"expected a positive duration like 30m, 8h or 7d, got {text!r}")
    return timedelta(**{_TTL_UNITS[match[2]]: int(match[1])})


def main(argv: Sequence[str] | None = None) -> int:
    """``aidflow-token``: print a token signed with the deployment's shared secret."""
    parser = argparse.ArgumentParser(
        prog="aidflow-token",
        description="Mint a bearer token for the aidflow APIs (secret from AIDFLOW_JWT_SECRET).",
    )
    parser.add_argument("--subject", required=True, help="who the token is for, e.g. a staff id")
    parser.add_argument("--role", dest="roles", action="append", required=True, choices=ROLES,
                        help="a role to grant; repeat for several")
    parser.add_argument("--agency", choices=AGENCIES, help="the agency the subject acts for")
    parser.add_argument("--ttl", type=_ttl_argument, default=DEFAULT_TTL,
                        help="lifetime such as 30m, 8h (default) or 7d")
    args = parser.parse_args(argv)

    # The JWT settings are shared by all services; any service's view of them will do.
    settings = Settings.from_env("intake")
    if settings.using_dev_secret:
        print("warning: signed with the development secret; set AIDFLOW_JWT_SECRET", file=sys.stderr)
    print(mint_token(settings, args.subject, args.roles, agency=args.agency, ttl=args.ttl))
    return 0


def _ttl_argument(text: str) -> timedelta:
    try:
        return parse_ttl(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


if __name__ == "__main__":
    raise SystemExit(main())
