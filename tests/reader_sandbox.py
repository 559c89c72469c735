"""Running the readers of untrusted files in a child process, under memory and CPU limits.

    run(jobs) -> [Outcome]      jobs: [(reader, path)], reader one of READERS

A child Python reads the files one after another (starting Python with numpy and h5py takes ~0.5 s, so one
child takes many files). Once imported, it limits itself with resource.setrlimit: its address space
(RLIMIT_AS) to what it holds plus MEMORY_BYTES, its total CPU time (RLIMIT_CPU) to CPU_SECONDS_TOTAL; and
each file gets CPU_SECONDS of CPU on a profiling timer. For every file it reports one Outcome:
    ok          the reader returned
    user_error  the reader raised UserError (message: its one line)
    memory      it ran out of memory (MemoryError, or a UserError saying so): too much for a small file
    exception   anything else (message: type and text), the CPU timer included
    crash       the child died on a signal (message: its name), e.g. SIGSEGV, or SIGXCPU from RLIMIT_CPU
    hang        the child gave no answer for WALL_SECONDS (blocked on a pipe, or looping in C code, where the
                CPU timer cannot interrupt it)
When a child dies, the file it was reading is marked, and a new child takes the files after it. The message
of a crash or a hang ends with the child's Python stack at that moment (faulthandler), to say where it was.
"""

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time

MEMORY_BYTES = 384 << 20  # the files are small: a reader needs far less; a blow-up needs far more
CPU_SECONDS = 5.0
CPU_SECONDS_TOTAL = 300
WALL_SECONDS = 30  # for one file

READERS = {
    "pth": ("scratchdream.nets.readers.pth", "load_state_dict"),
    "caffemodel": ("scratchdream.nets.readers.caffemodel", "read_caffemodel_layers"),
    "prototxt": ("scratchdream.nets.readers.prototxt", "read_prototxt"),
    "keras_h5": ("scratchdream.nets.readers.keras_h5", "read_keras_weights"),
    "weights": ("scratchdream.weights_io", "read_spec_and_params"),
    "onnx": ("scratchdream.nets.convert", "convert_onnx"),  # the reader, then the graph -> architecture
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Outcome:
    reader: str
    path: str
    kind: str
    message: str = ""
    cpu: float = 0.0

    def __str__(self):
        name = os.path.basename(self.path)
        return f"{self.reader} {name}: {self.kind} {self.message[:300]} ({self.cpu:.2f} s CPU)"


def run(jobs, memory=MEMORY_BYTES, cpu=CPU_SECONDS):
    """Read every (reader, path) of `jobs` in child processes; one Outcome per job, in order."""
    outcomes, todo = [], list(jobs)
    while todo:
        done = _one_child(todo, memory, cpu)
        outcomes += done
        todo = todo[len(done) :]
    return outcomes


def _one_child(jobs, memory, cpu):
    """Start a child on `jobs`; the Outcomes of the jobs it finished, and of the one it died on."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdin.write(json.dumps({"jobs": jobs, "memory": memory, "cpu": cpu}).encode())
    proc.stdin.close()
    lines, hung = _report_lines(proc.stdout, len(jobs))
    if hung:
        proc.send_signal(signal.SIGUSR1)  # faulthandler prints the child's stack, then it is stopped
        time.sleep(1)
        proc.kill()
    err = proc.stderr.read().decode(errors="replace")
    proc.wait()
    done = [Outcome(*jobs[r["i"]], r["kind"], r["message"], r["cpu"]) for r in map(json.loads, lines)]
    if len(done) < len(jobs):  # it died, or hung, on the next job
        stack = " | ".join(line.strip() for line in err.splitlines() if line.strip().startswith("File "))
        why = f"no answer within {WALL_SECONDS} s" if hung else _signal_name(proc.returncode)
        done.append(
            Outcome(
                *jobs[len(done)], "hang" if hung else "crash", f"{why}; stack, innermost first: {stack[:600]}"
            )
        )
    return done


def _report_lines(pipe, n):
    """The child's report lines, read as they come; (lines, True) when WALL_SECONDS pass without one."""
    lines, pending, fd = [], b"", pipe.fileno()
    while len(lines) < n:
        ready, _, _ = select.select([fd], [], [], WALL_SECONDS)
        if not ready:
            return lines, True
        chunk = os.read(fd, 1 << 16)
        if not chunk:  # the child is gone
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines += [line for line in complete if line.startswith(b"{")]
    return lines, False


def _signal_name(returncode):
    if returncode is not None and returncode < 0:
        return signal.Signals(-returncode).name
    return f"exit code {returncode}"


# ------------------------------------------------------------------------------------------ the child
class _OutOfTime(BaseException):  # not an Exception: the readers' `except Exception` must not swallow it
    pass


def _child():
    import faulthandler
    import importlib
    import resource

    faulthandler.enable()  # a crash prints the Python stack on stderr
    faulthandler.register(signal.SIGUSR1)  # and so does the parent, before it kills a hung child
    request = json.loads(sys.stdin.read())
    readers = {name: getattr(importlib.import_module(m), f) for name, (m, f) in READERS.items()}
    if any(reader == "weights" for reader, _ in request["jobs"]):
        import scratchdream.nets.graph  # noqa: F401  Numba and the layers: imported before the limits apply
    from scratchdream.errors import UserError

    with open("/proc/self/statm") as f:
        held = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (held + request["memory"], resource.RLIM_INFINITY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS_TOTAL, resource.RLIM_INFINITY))

    def out_of_time(*_):
        raise _OutOfTime(f"more than {request['cpu']} s of CPU")

    signal.signal(signal.SIGPROF, out_of_time)
    for i, (reader, path) in enumerate(request["jobs"]):
        start = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, request["cpu"])
        try:
            readers[reader](path)
            kind, message = "ok", ""
        except UserError as e:
            kind, message = "user_error", str(e)
            if "ran out of memory" in message:
                kind = "memory"
        except MemoryError as e:
            kind, message = "memory", f"MemoryError: {e}"
        except BaseException as e:
            kind, message = "exception", f"{type(e).__name__}: {e}"[:1000]
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        report = {"i": i, "kind": kind, "message": message, "cpu": time.process_time() - start}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    _child()
