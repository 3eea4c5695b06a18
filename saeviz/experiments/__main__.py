"""``python -m saeviz.experiments NAME [--quick] --out FOLDER``: run one experiment."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saeviz.experiments import EXPERIMENTS

COMMON = ("experiment", "quick", "out", "seeds", "threads", "list")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m saeviz.experiments",
        description="Run an experiment; it writes report.md (with PNG figures) and results.json into --out.")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    sub = parser.add_subparsers(dest="experiment", metavar="NAME")
    for name, module in EXPERIMENTS.items():
        # argparse %-formats help strings: "10% labels" must reach it as "10%% labels"
        p = sub.add_parser(name, help=module.DESCRIPTION.replace("%", "%%"),
                           description=(module.__doc__ or "").strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--quick", action="store_true", help="a short pass (few seeds and epochs), for smoke tests")
        p.add_argument("--out", required=True, help="folder for report.md, figures and results.json")
        p.add_argument("--seeds", type=_positive, default=None, help="number of seeds (default: the experiment's)")
        p.add_argument("--threads", type=_positive, default=1,
                       help="CPU threads for torch (default 1: these small networks gain little from more "
                            "threads, and a fixed count keeps reruns comparable)")
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the experiment; returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.list or args.experiment is None:
        if not args.list:
            parser.print_usage(sys.stderr)
        for name, module in EXPERIMENTS.items():
            print(f"{name:12s} {module.DESCRIPTION}", file=sys.stdout if args.list else sys.stderr)
        return 0 if args.list else 2
    import torch

    from saeviz.core.errors import SaevizError

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    options = {k: v for k, v in vars(args).items() if k not in COMMON}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        EXPERIMENTS[args.experiment].run(Path(args.out), quick=args.quick, seeds=args.seeds, log=log, **options)
    except (SaevizError, ValueError) as exc:
        print(f"{parser.prog} {args.experiment}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.experiment}: interrupted", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
