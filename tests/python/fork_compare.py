"""The two sides of test_grpc_fork.py, each run in its own spawned process (so a hang can be killed and the
two clients never share a process): use a client in the parent, fork N children that use it again (each
under a CALL_TIMEOUT deadline and an alarm), report how each child ended and whether the parent still works.
"""
from __future__ import annotations

import os
import signal
import time
import traceback

CALL_TIMEOUT = 60.0  # a hang guard: a loaded machine must not turn a slow call into a failure
ALARM_SECONDS = 20  # a grpcio child still running by then is a hang (reported, only counted as not ok)
TC_ALARM_SECONDS = 300  # tablecar's children must all succeed: their alarm only catches real hangs
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}


def describe(e: BaseException) -> str:
    """One line for an exception: a grpcio RpcError's status code and details, else the type and message."""
    if callable(getattr(e, "code", None)) and callable(getattr(e, "details", None)):
        return f"{type(e).__name__} {e.code().name}: {e.details()}"
    text = str(e).splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def fork_children(n: int, call, alarm: int = ALARM_SECONDS) -> list[str]:
    """Forks n children that each run call() -> bool; returns "ok", "failed: ..." or "hang" per child."""
    kids = []
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(r)
            signal.alarm(alarm)
            try:
                msg = "ok" if call() else "failed: wrong answer"
            except BaseException as e:  # noqa: BLE001 - report anything
                msg = f"failed: {describe(e)}"
            os.write(w, msg.encode()[:500])
            os._exit(0)
        os.close(w)
        kids.append((pid, r))
    out = []
    for pid, r in kids:
        msg = b""
        while chunk := os.read(r, 4096):
            msg += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            out.append("hang")
        elif msg:
            out.append(msg.decode(errors="replace"))
        else:
            out.append(f"failed: exit status {os.waitstatus_to_exitcode(status)}")
    return out


def _timed(call):
    t0 = time.monotonic()
    try:
        ok = call()
        return ("ok" if ok else "failed: wrong answer"), time.monotonic() - t0
    except BaseException as e:  # noqa: BLE001
        return f"failed: {describe(e)}", time.monotonic() - t0


def grpcio_side(socket: str, n: int, fresh_channel: bool, conn) -> None:
    try:
        import grpc
        channel = grpc.insecure_channel(f"unix:{socket}")
        check = channel.unary_unary(HEALTH_CHECK)  # no serializers: raw bytes in and out
        before = _timed(lambda: check(b"", timeout=CALL_TIMEOUT) == SERVING)

        def child_call():
            if fresh_channel:  # what RESULTS.md's pyfork.py did: a new channel in the child
                with grpc.insecure_channel(f"unix:{socket}") as ch:
                    return ch.unary_unary(HEALTH_CHECK)(b"", timeout=CALL_TIMEOUT) == SERVING
            return check(b"", timeout=CALL_TIMEOUT) == SERVING  # the DataLoader case: the inherited channel

        children = fork_children(n, child_call)
        after = _timed(lambda: check(b"", timeout=CALL_TIMEOUT) == SERVING)
        conn.send(("result", {"parent_before": before, "children": children, "parent_after": after}))
    except BaseException:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))


def tablecar_side(address: str, n: int, conn) -> None:
    try:
        from tcsupport import tablecar
        db = tablecar.connect(address, timeout=CALL_TIMEOUT)
        perm = tablecar.permutation_builder(db.open_table("example")).shuffle(seed=1).execute()
        view = perm.select_columns(["label"])
        want = view.read_batch(0, 16)["label"].tolist()
        before = _timed(lambda: db.health() == "SERVING")
        children = fork_children(
            n, lambda: db.health() == "SERVING" and view.read_batch(0, 16)["label"].tolist() == want,
            alarm=TC_ALARM_SECONDS)
        after = _timed(lambda: db.health() == "SERVING" and view.read_batch(0, 16)["label"].tolist() == want)
        conn.send(("result", {"parent_before": before, "children": children, "parent_after": after}))
    except BaseException:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))
