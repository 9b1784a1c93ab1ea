"""Tokens: minted by one service or the CLI, trusted by all, refused when anything is off."""
import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from aidflow_shared.auth import AuthError, Principal, main, mint_token, parse_ttl, verify_token
from aidflow_shared.settings import Settings

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"


@pytest.fixture
def settings():
    return Settings(service="intake", jwt_secret=SECRET)


@pytest.fixture
def jwt_env(monkeypatch):
    """No JWT settings from the surrounding environment; the test sets what it needs."""
    for name in ("AIDFLOW_JWT_SECRET", "AIDFLOW_JWT_ISSUER", "AIDFLOW_JWT_AUDIENCE"):
        for service in ("", "INTAKE_", "REVIEW_"):
            monkeypatch.delenv(name.replace("AIDFLOW_", f"AIDFLOW_{service}"), raising=False)
    return monkeypatch


def claims(**changes):
    """Good claims with ``changes``; a timedelta is counted from now, when the test runs (not when
    the parameters were collected, which can be minutes earlier in a long suite)."""
    now = datetime.now(timezone.utc)
    base = {"sub": "alice", "roles": ["reviewer"], "agency": None, "iss": "aidflow", "aud": "aidflow",
            "iat": now, "nbf": now, "exp": now + timedelta(hours=1)}
    changes = {key: now + value if isinstance(value, timedelta) else value for key, value in changes.items()}
    return {key: value for key, value in {**base, **changes}.items() if value is not ...}


def refused_with(settings, token):
    with pytest.raises(AuthError) as caught:
        verify_token(settings, token)
    return caught.value.code


def test_a_minted_token_verifies_to_its_principal(settings):
    token = mint_token(settings, "bob", ["reviewer", "department_head"], agency="procuratorate")
    principal = verify_token(settings, token)
    assert principal == Principal("bob", frozenset({"reviewer", "department_head"}), "procuratorate")


def test_the_token_carries_the_agreed_claims(settings):
    token = mint_token(settings, "bob", ["ops"], ttl=timedelta(minutes=30))
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience="aidflow")
    assert set(decoded) == {"sub", "roles", "agency", "iss", "aud", "iat", "nbf", "exp", "jti"}
    assert decoded["exp"] - decoded["iat"] == 1800
    assert decoded["agency"] is None


def test_another_service_accepts_the_token(settings):
    token = mint_token(settings, "carol", ["finance_officer"])
    assert verify_token(settings.replace(service="payout"), token).subject == "carol"


def test_principal_has_any():
    principal = Principal("dan", frozenset({"reviewer"}), None)
    assert principal.has_any("auditor", "reviewer")
    assert not principal.has_any("ops")
    assert not principal.has_any()


def test_an_expired_token_is_refused(settings):
    token = mint_token(settings, "alice", ["reviewer"], ttl=timedelta(minutes=-5))
    assert refused_with(settings, token) == "token_expired"


def test_clock_drift_within_the_leeway_is_tolerated(settings):
    token = mint_token(settings, "alice", ["reviewer"], ttl=timedelta(seconds=-10))
    assert verify_token(settings, token).subject == "alice"


@pytest.mark.parametrize("field, value", [("jwt_audience", "someone-else"), ("jwt_issuer", "someone-else"),
                                          ("jwt_secret", "another-secret-that-is-long-enough-too")])
def test_a_token_for_another_deployment_is_refused(settings, field, value):
    token = mint_token(settings, "alice", ["reviewer"])
    assert refused_with(settings.replace(**{field: value}), token) == "token_invalid"


def test_a_tampered_token_is_refused(settings):
    header, payload, signature = mint_token(settings, "alice", ["reviewer"]).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["roles"] = ["chief_procurator"]
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert refused_with(settings, f"{header}.{forged}.{signature}") == "token_invalid"


@pytest.mark.parametrize(
    "changes",
    [
        {"roles": ["janitor"]},
        {"roles": ["reviewer", "janitor"]},
        {"roles": []},
        {"roles": ...},
        {"roles": "reviewer"},
        {"agency": "unknown-bureau"},
        {"sub": ...},
        {"sub": ""},
        {"exp": ...},
        {"iss": ...},
        {"aud": ...},
        {"nbf": timedelta(minutes=5)},
    ],
)
def test_a_signed_token_with_bad_claims_is_refused(settings, changes):
    token = jwt.encode(claims(**changes), SECRET, algorithm="HS256")
    assert refused_with(settings, token) == "token_invalid"


def test_unsigned_and_garbage_tokens_are_refused(settings):
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert refused_with(settings, unsigned) == "token_invalid"
    assert refused_with(settings, "not-a-token") == "token_invalid"


@pytest.mark.parametrize("roles, agency", [(["janitor"], None), ([], None), (["reviewer"], "bank")])
def test_mint_refuses_what_verify_would_refuse(settings, roles, agency):
    with pytest.raises(ValueError):
        mint_token(settings, "alice", roles, agency=agency)


@pytest.mark.parametrize("text, expected", [("30m", timedelta(minutes=30)), ("8h", timedelta(hours=8)),
                                            ("7d", timedelta(days=7)), (" 12H ", timedelta(hours=12))])
def test_parse_ttl(text, expected):
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["0h", "8", "h", "-1h", "8w", "1.5h", ""])
def test_parse_ttl_refuses_other_spellings(text):
    with pytest.raises(ValueError):
        parse_ttl(text)


def test_the_cli_prints_a_token_every_service_accepts(jwt_env, capsys):
    jwt_env.setenv("AIDFLOW_JWT_SECRET", SECRET)
    argv = ["--subject", "alice", "--role", "reviewer", "--role", "department_head",
            "--agency", "procuratorate", "--ttl", "8h"]
    assert main(argv) == 0
    out = capsys.readouterr()
    principal = verify_token(Settings.from_env("review"), out.out.strip())
    assert principal == Principal("alice", frozenset({"reviewer", "department_head"}), "procuratorate")
    assert out.err == ""


def test_the_cli_warns_about_the_development_secret(jwt_env, capsys):
    main(["--subject", "alice", "--role", "ops"])
    assert "development secret" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--subject", "alice", "--role", "janitor"], ["--subject", "alice"],
                                  ["--subject", "alice", "--role", "ops", "--ttl", "forever"]])
def test_the_cli_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
