"""The `fruits` command: run, pack, sample, report, evaluate, weights.

Exit codes: 0 done; 1 the run failed (one line says why, the log above has the details);
2 a bad argument or setting, reported before Spark starts whenever it can be; 124 the run passed
its `--deadline` (fruits.cli.deadline).

The environment's settings are read here, once (`Settings.from_env()`), and passed to the command;
the heavy modules (Spark, TensorFlow) are imported only when a command needs them.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from fruits.cli.deadline import EXIT_DEADLINE, DeadlineExceeded
from fruits.cli.parser import build_parser
from fruits.config.settings import Settings
from fruits.errors import ConfigError, explain
from fruits.quiet import set_tensorflow_log_level

log = logging.getLogger("fruits")

EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("py4j", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose:
        log.setLevel(logging.DEBUG)
    set_tensorflow_log_level(verbose)
    try:
        settings = Settings.from_env()
        from fruits.cli.commands import COMMANDS  # the pipeline's modules, loaded once a command runs

        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"fruits: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DeadlineExceeded as exc:
        print(f"fruits: run failed: {exc}", file=sys.stderr)
        return EXIT_DEADLINE
    except KeyboardInterrupt:
        print("fruits: interrupted; the previous complete output is untouched", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - turn any failure into one readable line
        log.debug("failure", exc_info=True)
        print(f"fruits: run failed: {explain(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
