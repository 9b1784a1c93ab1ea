"""Tokens: minted by one service or the CLI, trusted by all, refused when anything is off."""
import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from aidflow_shared.auth import AuthError, Principal, key_id, main, mint_token, parse_ttl, verify_token
from aidflow_shared.settings import InsecureSettings, Settings, read_secret

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


# -- keys: rotation, files, and what a deployment on a broker refuses ---------------------------------

OLD_SECRET = "the-key-being-retired-is-also-long-enough-for-hs256"


def test_rotation_new_tokens_use_the_current_key_and_old_ones_still_verify(settings):
    before = Settings(service="intake", jwt_secret=OLD_SECRET)
    old_token = mint_token(before, "dan", ["auditor"])
    rotating = Settings(service="review", jwt_secret=SECRET, jwt_previous_secrets=(OLD_SECRET,))
    assert verify_token(rotating, old_token).subject == "dan"
    new_token = mint_token(rotating, "erin", ["auditor"])
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(SECRET) != key_id(OLD_SECRET)
    assert verify_token(settings, new_token).subject == "erin"  # services not yet rotating accept it
    # The old key dropped once its tokens have expired: they are refused from then on.
    assert refused_with(settings, old_token) == "token_invalid"


def test_a_token_naming_an_unknown_key_or_signed_with_a_wrong_one_is_refused(settings):
    forged = jwt.encode(claims(), "some-other-key-that-is-long-enough-for-hs256", algorithm="HS256",
                        headers={"kid": key_id(SECRET)})
    assert refused_with(settings, forged) == "token_invalid"
    unknown = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "0123456789abcdef"})
    assert refused_with(settings, unknown) == "token_invalid"
    without_kid = jwt.encode(claims(), SECRET, algorithm="HS256")  # tokens minted before key ids
    assert verify_token(settings, without_kid).subject == "alice"


def test_secrets_can_come_from_files(tmp_path):
    (tmp_path / "jwt").write_text(SECRET + "\n")
    (tmp_path / "old").write_text(OLD_SECRET + "\n" + "x" * 40 + "\n")
    (tmp_path / "pw").write_text("s3cret/pw\n")
    (tmp_path / "payee").write_text("payee-key\n")
    env = {"AIDFLOW_JWT_SECRET_FILE": str(tmp_path / "jwt"), "AIDFLOW_JWT_PREVIOUS_SECRETS_FILE": str(tmp_path / "old"),
           "DATABASE_URL": "postgresql://payout@db/payout", "AIDFLOW_PAYOUT_DATABASE_PASSWORD_FILE": str(tmp_path / "pw"),
           "AIDFLOW_PAYOUT_PAYEE_KEY_FILE": str(tmp_path / "payee")}
    settings = Settings.from_env("payout", env)
    assert settings.jwt_secret == SECRET and settings.jwt_previous_secrets == (OLD_SECRET, "x" * 40)
    assert settings.database_url == "postgresql://payout:s3cret%2Fpw@db/payout"
    assert settings.extra["AIDFLOW_PAYOUT_PAYEE_KEY"] == "payee-key"
    assert read_secret("AIDFLOW_JWT_SECRET", env) == SECRET


def test_a_secret_given_twice_or_an_unreadable_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        Settings.from_env("intake", {"AIDFLOW_JWT_SECRET": SECRET, "AIDFLOW_JWT_SECRET_FILE": str(tmp_path)})
    with pytest.raises(ValueError, match="AIDFLOW_JWT_SECRET_FILE: cannot read"):
        Settings.from_env("intake", {"AIDFLOW_JWT_SECRET_FILE": str(tmp_path / "missing")})


GOOD_KEY = "dGVzdC1waWkta2V5LWZvci1haWRmbG93LXRlc3RzLTA="


@pytest.mark.parametrize("env, reason", [
    ({"AIDFLOW_PAYOUT_PAYEE_KEY": GOOD_KEY}, "AIDFLOW_JWT_SECRET is the development secret"),
    ({"AIDFLOW_JWT_SECRET": "short", "AIDFLOW_PAYOUT_PAYEE_KEY": GOOD_KEY}, "shorter than 32 bytes"),
    ({"AIDFLOW_JWT_SECRET": SECRET}, "AIDFLOW_PAYOUT_PAYEE_KEY is not set"),
    ({"AIDFLOW_JWT_SECRET": SECRET, "AIDFLOW_PAYOUT_PAYEE_KEY": GOOD_KEY, "AMQP_URL": "amqp://guest:guest@rabbit/"},
     "guest account on a remote host"),
])
def test_a_deployment_on_a_broker_refuses_development_secrets(env, reason):
    settings = Settings.from_env("payout", {"AMQP_URL": "amqp://payout:pw@rabbit/", **env})
    with pytest.raises(InsecureSettings, match=reason):
        settings.check_secrets({})
    settings.check_secrets({"AIDFLOW_ALLOW_DEV_SECRETS": "1"})  # local development says so explicitly


def test_embedded_and_well_configured_deployments_start():
    Settings.from_env("payout", {}).check_secrets({})  # embedded: development keys are the point
    Settings.from_env("payout", {"AMQP_URL": "amqp://guest:guest@127.0.0.1/", "AIDFLOW_JWT_SECRET": SECRET,
                                 "AIDFLOW_PAYOUT_PAYEE_KEY": GOOD_KEY}).check_secrets({})
    Settings.from_env("review", {"AMQP_URL": "amqp://review:pw@rabbit/", "AIDFLOW_JWT_SECRET": SECRET}).check_secrets({})


def test_intakes_key_for_personal_data_can_come_from_a_file(tmp_path):
    from aidflow_intake.settings import IntakeSettings
    (tmp_path / "pii").write_text(GOOD_KEY + "\n")
    assert IntakeSettings.from_env({"AIDFLOW_INTAKE_PII_KEY_FILE": str(tmp_path / "pii")}).pii_key is not None
    assert IntakeSettings.from_env({}).pii_key is None
