#!/usr/bin/env python3
"""Run built wasi-testsuite tests under wasmtime and under Wharf, side by side.

Called by scripts/wasi-testsuite.sh once per suite, after the tests are built.
Each test's JSON spec is read and checked the way upstream's test-runner does
(test-runner/wasi_test_runner/test_case.py and runtime_adapter.py):

* legacy specs ({"args", "env", "dirs", "root", "exit_code", "stdout",
  "stderr"}) become the operations run, read stdout, read stderr, wait;
* a "read" compares exactly len(payload) characters of the stream with the
  payload (a prefix match, as upstream's stream.read(len) does);
* "wait" compares the exit code (upstream waits 5 s; we allow the per-test
  timeout);
* "root" is the fixture directory mapped as the guest's "/" preopen, "dirs"
  are mapped under their own names.

wasmtime is invoked as upstream's adapters/wasmtime.py does:
  wasmtime [-Wcomponent-model-async -Sp3[,http][,inherit-network]]
           --env K=V... --dir HOST::/ test.wasm ARGS...
Wharf runs each test packed as an image:
  wharf --root R run --rm -i -v HOST:/ -e K=V... IMAGE ARGS...

Fixture directories are copied to a fresh temporary directory for every run so
tests that write leave the tree clean. Operations this runner does not
implement (HTTP requests, signals, sockets) make the test SKIP on both
runtimes rather than count as a failure.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LEGACY_KEYS = {"args", "dirs", "env", "exit_code", "stderr", "stdout", "root"}
SUPPORTED_OPS = {"run", "read", "write", "wait"}


class Unsupported(Exception):
    pass


def load_spec(spec_path):
    """Returns (operations, proposals, world) for a test, upstream-style."""
    if spec_path is None or not spec_path.exists():
        return [{"type": "run"}, {"type": "wait", "exit_code": 0}], [], "wasi:cli/command"
    text = spec_path.read_text(encoding="utf-8")
    # Some upstream specs carry a trailing comma (e.g. filesystem.json), which
    # Python's json rejects; strip the one form seen in the suite.
    text = text.replace(",\n}", "\n}")
    conf = json.loads(text)
    world = conf.get("world", "wasi:cli/command")
    proposals = conf.get("proposals", [])
    if "operations" in conf or "proposals" in conf:
        ops = conf.get("operations", [])
        for op in ops:
            if op.get("type") not in SUPPORTED_OPS:
                raise Unsupported(f"operation '{op.get('type')}'")
        if "protocol" in conf:
            raise Unsupported("protocol")
        return ops, proposals, world
    unknown = set(conf) - LEGACY_KEYS
    if unknown:
        raise Unsupported("spec keys " + ",".join(sorted(unknown)))
    run = {"type": "run", "args": conf.get("args", []), "env": conf.get("env", {})}
    if "dirs" in conf:
        run["dirs"] = conf["dirs"]
    if "root" in conf:
        run["root"] = conf["root"]
    ops = [run]
    if conf.get("stdout") is not None:
        ops.append({"type": "read", "id": "stdout", "payload": conf["stdout"]})
    if conf.get("stderr") is not None:
        ops.append({"type": "read", "id": "stderr", "payload": conf["stderr"]})
    ops.append({"type": "wait", "exit_code": conf.get("exit_code", 0)})
    return ops, proposals, world


class Reader(threading.Thread):
    """Drains one pipe so a guest never blocks on a full pipe."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.eof = False

    def run(self):
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.buf += chunk
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return self.buf.decode("utf-8", "replace")


def run_ops(ops, make_argv, spec_dir, timeout):
    """Executes one test's operations. Returns (ok, message, stdout, stderr, rc)."""
    deadline = time.monotonic() + timeout
    proc = None
    readers = {}
    consumed = {"stdout": 0, "stderr": 0}
    tmpdirs = []
    failures = []
    rc = None
    try:
        for op in ops:
            if failures:
                break
            ty = op["type"]
            if ty == "run":
                root = None
                dirs = []
                if op.get("root"):
                    tmp = Path(tempfile.mkdtemp(prefix="wts-root-"))
                    tmpdirs.append(tmp)
                    copy_fixture(spec_dir / op["root"], tmp)
                    root = tmp
                for d in op.get("dirs", []):
                    tmp = Path(tempfile.mkdtemp(prefix="wts-dir-"))
                    tmpdirs.append(tmp)
                    copy_fixture(spec_dir / d, tmp)
                    dirs.append((tmp, d))
                argv = make_argv(op.get("args", []), op.get("env", {}), root, dirs)
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
                readers = {"stdout": Reader(proc.stdout), "stderr": Reader(proc.stderr)}
                for r in readers.values():
                    r.start()
            elif ty == "write":
                payload = op.get("payload", "").encode("utf-8")
                try:
                    proc.stdin.write(payload)
                    proc.stdin.flush()
                except BrokenPipeError:
                    failures.append("write to stdin: broken pipe")
            elif ty == "read":
                sid = op.get("id", "stdout")
                want = op.get("payload", "")
                r = readers[sid]
                with r.cond:
                    while True:
                        got = r.buf.decode("utf-8", "replace")[consumed[sid]:]
                        if len(got) >= len(want) or r.eof:
                            break
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        r.cond.wait(min(left, 0.2))
                got = got[: len(want)]
                consumed[sid] += len(got)
                if got != want:
                    failures.append(f"read {sid}: expected {want!r}, got {got!r}")
            elif ty == "wait":
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                try:
                    rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    kill(proc)
                    rc = proc.wait()
                    failures.append(f"timeout after {timeout}s")
                    break
                want = op.get("exit_code", 0)
                if rc != want:
                    failures.append(f"exit code: expected {want}, got {rc}")
                proc_done(readers)
                proc = None
    finally:
        if proc is not None and not failures:
            # Operations ended without a "wait": upstream lets the process
            # finish (communicate with a timeout) without checking its exit
            # code; a process that outlives the timeout is a failure.
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                proc_done(readers)
                proc = None
            except subprocess.TimeoutExpired:
                failures.append(f"timeout after {timeout}s")
        if proc is not None:
            kill(proc)
            rc = proc.wait()
            proc_done(readers)
        for t in tmpdirs:
            shutil.rmtree(t, ignore_errors=True)
    out = readers["stdout"].text() if readers else ""
    err = readers["stderr"].text() if readers else ""
    note = ""
    if not failures and rc not in (None, 0) and not any(op["type"] == "wait" for op in ops):
        note = f"(exit {rc} not checked: the spec has no wait)"
    return (not failures), "; ".join(failures) or note, out, err, rc


def proc_done(readers):
    for r in readers.values():
        r.join(timeout=5)


def kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def copy_fixture(src, dst):
    """Copies a fixture tree (without .gitkeep placeholders) into dst."""
    if not src.is_dir():
        return
    shutil.copytree(
        src, dst, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gitkeep")
    )


def wasmtime_argv(wasmtime, wasm, wasi_version, proposals):
    def make(args, env, root, dirs):
        argv = [wasmtime]
        if wasi_version == "wasm32-wasip3":
            flags = ""
            if "http" in proposals:
                flags += ",http"
            if "sockets" in proposals:
                flags += ",inherit-network"
            argv += ["-Wcomponent-model-async", f"-Sp3{flags}"]
        for k, v in env.items():
            argv += ["--env", f"{k}={v}"]
        if root is not None:
            argv += ["--dir", f"{root}::/"]
        for host, guest in dirs:
            argv += ["--dir", f"{host}::{guest}"]
        return argv + [str(wasm)] + list(args)

    return make


def wharf_argv(wharf, store, image, proposals):
    def make(args, env, root, dirs):
        argv = [wharf, "--root", store, "run", "--rm", "-i"]
        # wasmtime gets -Sinherit-network for the "sockets" proposal; the
        # Wharf equivalent is the host's network namespace.
        if "sockets" in proposals or "http" in proposals:
            argv += ["--network", "host"]
        if root is not None:
            argv += ["-v", f"{root}:/"]
        for host, guest in dirs:
            argv += ["-v", f"{host}:/{guest.strip('/')}"]
        for k, v in env.items():
            argv += ["-e", f"{k}={v}"]
        return argv + [image] + list(args)

    return make


def pack(wharf, store, platform, name, wasm):
    """Packs one test module as image wts/NAME; returns (image, error)."""
    image = "wts/" + name.lower().replace("_", "-")
    with tempfile.TemporaryDirectory(prefix="wts-ctx-") as ctx:
        # The module keeps its test name and is named relative to the
        # workdir (`/`), so argv[0] is "NAME.wasm" as under wasmtime, which
        # passes the file name as typed (cli-env checks it).
        fname = f"{name}.wasm"
        shutil.copy(wasm, Path(ctx) / fname)
        (Path(ctx) / "Dockerfile").write_text(
            f'FROM scratch\nCOPY {fname} /{fname}\nENTRYPOINT ["{fname}"]\n'
        )
        r = subprocess.run(
            [wharf, "--root", store, "build", "-q", "--platform", platform, "-t", image, ctx],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()
    return image, None


def first_lines(text, n=3):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[:n]


def load_expected(path):
    """expected.txt: `NAME KIND REASON...` lines, KIND `wasmtime-fails` (what
    wasmtime 48.0.8 fails here, for runs without it) or `wharf-exception`."""
    kinds = {"wasmtime-fails": set(), "wharf-exception": set()}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 3 or parts[1] not in kinds:
            raise ValueError(f"{path}: bad line {line!r}")
        kinds[parts[1]].add(parts[0])
    return kinds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--suite", required=True)
    p.add_argument("--wasi-version", required=True)
    p.add_argument("--spec-dir", required=True, type=Path)
    p.add_argument("--wasm-dir", required=True, type=Path)
    p.add_argument("--names", required=True, help="comma-separated test names")
    p.add_argument("--wharf", required=True)
    p.add_argument("--wasmtime", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--platform", default="wasi/wasm")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--summary", type=Path, help="append the suite's summary lines here")
    p.add_argument(
        "--strict",
        action="store_true",
        help="also require exit code 0 when a spec has no wait operation (upstream does not)",
    )
    a = p.parse_args()

    names = [n for n in a.names.split(",") if n]
    expected = load_expected(Path(__file__).with_name("expected.txt"))
    rows = []
    for name in names:
        wasm = a.wasm_dir / f"{name}.wasm"
        spec = a.spec_dir / f"{name}.json"
        try:
            ops, proposals, world = load_spec(spec if spec.exists() else None)
            if world != "wasi:cli/command":
                raise Unsupported(f"world {world}")
            if a.strict and not any(op["type"] == "wait" for op in ops):
                ops = ops + [{"type": "wait", "exit_code": 0}]
        except Unsupported as e:
            print(f"SKIP {name} ({e} not supported by this runner)", flush=True)
            rows.append((name, None, None, "", f"skipped: {e}"))
            continue

        if a.wasmtime == "none":
            # No wasmtime here (CI): its results on this kind of machine,
            # recorded in expected.txt, stand in for a run.
            wt_ok = name not in expected["wasmtime-fails"]
            wt_msg, wt_err = ("recorded" if not wt_ok else ""), ""
        else:
            wt_ok, wt_msg, _, wt_err, _ = run_ops(
                ops,
                wasmtime_argv(a.wasmtime, wasm, a.wasi_version, proposals),
                a.spec_dir,
                a.timeout,
            )
        image, pack_err = pack(a.wharf, a.store, a.platform, name, wasm)
        if image is None:
            wh_ok, wh_msg, wh_err = False, "wharf build failed", pack_err
        else:
            wh_ok, wh_msg, _, wh_err, _ = run_ops(
                ops, wharf_argv(a.wharf, a.store, image, proposals), a.spec_dir, a.timeout
            )
        status = "PASS" if wh_ok else "FAIL"
        wstatus = "PASS" if wt_ok else "FAIL"
        line = f"{status} {name} [wasmtime: {wstatus}]"
        if wh_msg:
            line += f"  wharf: {wh_msg}"
        if wt_msg:
            line += f"  wasmtime: {wt_msg}"
        print(line, flush=True)
        rows.append((name, wt_ok, wh_ok, wh_err if not wh_ok else wt_err, wh_msg))

    ran = [r for r in rows if r[1] is not None]
    skipped = [r for r in rows if r[1] is None]
    wt_pass = sum(1 for r in ran if r[1])
    wh_pass = sum(1 for r in ran if r[2])
    # A test that needs fd 3 free cannot pass in a container, whose root is
    # always preopened there (expected.txt names each with the reason).
    regressions = [r for r in ran if r[1] and not r[2] and r[0] not in expected["wharf-exception"]]
    excepted = [r[0] for r in ran if r[1] and not r[2] and r[0] in expected["wharf-exception"]]
    out = []
    out.append(f"== {a.suite}: {len(ran)} run, {len(skipped)} skipped ==")
    out.append(f"   wasmtime passes: {wt_pass}/{len(ran)}")
    out.append(f"   Wharf passes:    {wh_pass}/{len(ran)}")
    if regressions:
        out.append(f"   wasmtime passes but Wharf fails ({len(regressions)}):")
        for name, _, _, err, msg in regressions:
            out.append(f"     {name}: {msg}")
            for l in first_lines(err):
                out.append(f"       | {l[:200]}")
    if excepted:
        out.append("   Wharf fails, as expected.txt explains: " + ", ".join(excepted))
    both = [r[0] for r in ran if not r[1] and not r[2]]
    if both:
        out.append("   both fail: " + ", ".join(both))
    wt_only = [r[0] for r in ran if not r[1] and r[2]]
    if wt_only:
        out.append("   wasmtime fails, Wharf passes: " + ", ".join(wt_only))
    if skipped:
        out.append("   skipped: " + ", ".join(f"{r[0]} ({r[4][9:]})" for r in skipped))
    text = "\n".join(out)
    print(text, flush=True)
    if a.summary:
        with open(a.summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return 1 if regressions else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a runner bug must not read as "Wharf regressed" (exit 1)
        print(f"run_tests.py: internal error: {e!r}", file=sys.stderr)
        sys.exit(3)
