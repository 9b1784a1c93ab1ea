"""``aidflow run`` (the whole system in one process), ``aidflow demo`` (feed it referrals) and
``aidflow report`` (the published figures of a period, from every service); ``aidflow partner
add|remove`` provisions a partner agency."""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="aidflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="all four services in one process (embedded by default)")
    demo = sub.add_parser("demo", help="feed realistic demo referrals and show cases moving")
    demo.add_argument("--count", type=int, default=20, help="referrals to submit (default 20)")
    demo.add_argument("--rate", type=float, default=2.0, help="referrals per second (default 2)")
    demo.add_argument("--reject-share", type=float, default=0.15, help="share of reviews rejected")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every case to settle")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable stream")
    report = sub.add_parser("report", help="the figures of a period from every service: text, CSV and a chart")
    report.add_argument("--from", dest="since", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD",
                        help="first day (YYYY-MM-DD, Beijing)")
    report.add_argument("--to", dest="until", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD",
                        help="last day (YYYY-MM-DD, Beijing), included")
    report.add_argument("--out", type=Path, default=Path("report"), help="folder for the files (default ./report)")
    for name in ("intake", "review", "payout", "followup"):
        report.add_argument(f"--{name}-url", help=f"{name}'s address (default AIDFLOW_{name.upper()}_URL, or its port)")
    report.add_argument("--token", help="a bearer token (default AIDFLOW_REPORT_TOKEN, or an auditor's minted from "
                                        "the configured secret)")
    from aidflow.provisioning import add_parser as add_partner_parser
    add_partner_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "partner":
        return args.run(args)
    if args.command == "report":
        from aidflow.report import run_report
        urls = {name: getattr(args, f"{name}_url") for name in ("intake", "review", "payout", "followup")}
        return run_report(since=args.since, until=args.until, out=args.out, urls=urls, token=args.token)
    if args.command == "run":
        from aidflow.embedded import run
        return run()
    from aidflow.demo import run_demo
    return run_demo(count=args.count, rate=args.rate, reject_share=args.reject_share, timeout=args.timeout,
                    seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
