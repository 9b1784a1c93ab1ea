"""``aidflow-payout``: migrate, api, worker or serve."""
from aidflow_shared.cli import service_main


def main(argv=None):
    from aidflow_payout.service import service
    return service_main(service, argv)


if __name__ == "__main__":
    raise SystemExit(main())
