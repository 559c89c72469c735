"""The command line: `scratchdream dream | lecture | zoom | video | survey | info | replay | layers | fetch
| convert | bench | toyworld | calibrate`.

One module per subcommand (COMMANDS), each with `add_parser(subs)`, where its options, defaults and help
are, and `run(args)`, which does the work by calling the library. What they share: flags.py (the flag
of each library parameter, argparse types with ranges), common.py (the options of dream, lecture and
zoom), paths.py (the outputs' default names and extensions; scratchdream/outputs.py checks them before
any work and writes them all or none).

`main` is the process around them: a mistake is one line on stderr and exit code 2 (a wrong command
line) or 1 (files, network, machine); Ctrl-C exits 130 and SIGTERM 143, both after the same cleanup
as any error, and a second signal during that cleanup is ignored. A reader that stops early
(`scratchdream layers toyworld | head -1`) ends the run quietly, exit 141 as after SIGPIPE.
"""

import faulthandler
import os
import signal
import sys

from ..errors import UsageError, UserError
from ..numba_threads import check_numba_threads
from . import (
    bench,
    calibrate,
    convert,
    dream,
    fetch,
    info,
    layers,
    lecture,
    replay,
    survey,
    toyworld,
    video,
    zoom,
)
from .flags import FLAGS, top_parser

COMMANDS = {  # subcommand -> its module
    "dream": dream,
    "lecture": lecture,
    "zoom": zoom,
    "layers": layers,
    "fetch": fetch,
    "convert": convert,
    "bench": bench,
    "toyworld": toyworld,
    "survey": survey,
    "video": video,
    "info": info,
    "replay": replay,
    "calibrate": calibrate,
}


def build_parser():
    parser = top_parser("Deep Dream from scratch (NumPy + Numba), beside the CS7015 lecture.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=type(parser))
    for module in COMMANDS.values():
        module.add_parser(subs)
    return parser


def main(argv=None):
    """The `scratchdream` command; argv None: this process's own arguments (and its signals)."""
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit then gives EFBIG, which we report, not a silent kill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if argv is None:
        _handle_signals()
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_numba_threads()
        args = build_parser().parse_args(argv)
        if not args.command:
            raise UsageError(
                "scratchdream: give a command, e.g. `scratchdream dream sky.jpg --net toyworld` (see --help)"
            )
        code = COMMANDS[args.command].run(args) or 0
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except BrokenPipeError:  # `scratchdream layers toyworld | head -1`: the reader has all it wanted
        _quiet_stdout()
        return 141  # as a shell reports a process ended by SIGPIPE
    except UserError as e:
        print(f"scratchdream: error: {e.worded(FLAGS)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"scratchdream: {what}; no output was written", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # a bug: one line unless --debug
        if "--debug" in argv:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:200]  # numba's messages run to dozens of lines
        print(
            f"scratchdream: internal error: {type(e).__name__}: {first} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _quiet_stdout():
    """Point stdout at /dev/null, so that the interpreter's last flush of what is left in its buffer does
    not fail on the closed pipe a second time (and print "Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (a test's capture): nothing to do
        pass


# ---- signals ------------------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C: every cleanup runs, then exit 143."""


def _stop(signum, frame):
    """The first Ctrl-C or SIGTERM unwinds the run; later ones are ignored, so that they cannot cut a
    cleanup short or print a traceback from the interpreter's exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handle_signals():
    """Ctrl-C and SIGTERM go through _stop (a shell that ignores SIGINT, as for `nohup cmd &`, is obeyed);
    `kill -USR1 PID` prints where a stuck run is (the tests use it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
