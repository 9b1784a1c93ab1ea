"""``aidflow run`` (the whole system in one process) and ``aidflow demo`` (feed it referrals)."""
from __future__ import annotations

import argparse


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
    args = parser.parse_args(argv)
    if args.command == "run":
        from aidflow.embedded import run
        return run()
    from aidflow.demo import run_demo
    return run_demo(count=args.count, rate=args.rate, reject_share=args.reject_share, timeout=args.timeout,
                    seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
