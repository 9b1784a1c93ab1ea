"""Settings from the environment: embedded defaults, per-service overrides, clear errors."""
import pytest

from aidflow_shared.settings import Settings


def test_defaults_run_embedded():
    s = Settings.from_env("review", {})
    assert s.embedded and s.database_url.endswith("data/review.sqlite3") and s.http_port == 8002


def test_service_specific_variable_wins():
    s = Settings.from_env("payout", {"DATABASE_URL": "postgresql://a/general",
                                     "AIDFLOW_PAYOUT_DATABASE_URL": "postgresql://a/payout",
                                     "AMQP_URL": "amqp://x", "AIDFLOW_RETRY_DELAYS": "0.5,1,2"})
    assert s.database_url == "postgresql://a/payout" and not s.embedded and s.retry_delays == (0.5, 1, 2)


def test_bad_values_are_refused_clearly():
    with pytest.raises(ValueError, match="RETRY_DELAYS"):
        Settings.from_env("intake", {"AIDFLOW_RETRY_DELAYS": "soon"})
    with pytest.raises(ValueError, match="unknown service"):
        Settings(service="billing")
