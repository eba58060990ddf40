#!/usr/bin/env python3
"""A PrismQ worker in Python, standard library only.

Usage: PRISMQ_URL=http://127.0.0.1:8000 python3 worker.py data_analysis [more type names ...]

The REST queue protocol (JSON bodies; errors are {"detail": ...}), one request per task:
  POST /api/tasks/exchange  {worker_id, task_types: [names], limit, lease_seconds, wait_seconds,
                             completed: [{task_id, lease_id, result}],
                             failed: [{task_id, lease_id, error_message, retry: true}]}
       -> 200 {settled: [{task_id, status} or {task_id, error: {status, detail}}], tasks: [task, ...]}
       Settles the attempts given (a failed one goes back to `pending` with a backoff while
       attempts remain, else `failed`; error status 409 = the lease was lost, 404 = no such task),
       commits that, then claims up to `limit` tasks, waiting up to wait_seconds (a long poll) for
       one; `tasks` may be []. Each task is now `running` with a fresh lease_id, valid until
       lease_expires_at.
  POST /api/tasks/{id}/heartbeat {worker_id, lease_id, lease_seconds[, progress, message]}  extends
       the lease; with progress (0-100) and a message (at most 1000 characters), the task and its
       attempt keep them (GET /api/tasks/{id}/attempts lists each attempt);
       409 = the lease is lost (expired and re-claimed) or the task was cancelled: stop.
(POST /api/tasks/claim, /complete and /fail do the same one step at a time.)
A task whose lease expires without being settled is claimed again (another attempt).

SIGTERM/SIGINT: let an exchange in progress answer (up to wait_seconds), finish the task in hand,
report it, exit 0.
Env: PRISMQ_URL (default http://127.0.0.1:8000), PRISMQ_LEASE_SECONDS (default 60),
     PRISMQ_TOKEN (an API token with the worker scope, when the server requires tokens).
"""
import json, os, signal, socket, sys, threading, time, urllib.error, urllib.request

BASE = os.environ.get("PRISMQ_URL", "http://127.0.0.1:8000").rstrip("/")
LEASE = float(os.environ.get("PRISMQ_LEASE_SECONDS", "60"))
TOKEN = os.environ.get("PRISMQ_TOKEN")
WAIT = 20  # long-poll time of a claim; the server allows 0-30 s
WORKER_ID = f"{socket.gethostname()}-{os.getpid()}"


def data_analysis(params, progress):
    rows = params.get("rows", 0)
    if not isinstance(rows, int) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    time.sleep(params.get("seconds", 0) / 2)  # pretend to work
    progress(50, f"clustering {rows} rows")
    time.sleep(params.get("seconds", 0) / 2)
    return {"clusters": 5}


# task type name -> function(parameters, progress) -> JSON result; progress(percent, message=None)
# reports how far the task got.
HANDLERS = {"data_analysis": data_analysis}


def api(method, path, body=None, timeout=30):
    """Calls the API; returns (status, decoded JSON). HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    req = urllib.request.Request(BASE + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:  # 4xx/5xx: the body is normally {"detail": ...}
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw or "null")
    except ValueError:  # e.g. an HTML page from a proxy
        return status, {"detail": raw.decode(errors="replace")}


def log(*args):
    print(time.strftime("%H:%M:%S"), WORKER_ID, *args, flush=True)


stopping = threading.Event()  # set by SIGTERM/SIGINT


def on_signal(signum, _frame):
    # A claim in progress is not cut short: a task leased in that instant would be stranded until
    # its lease expired, and lose an attempt. So stopping may take up to WAIT seconds.
    os.write(2, f"got signal {signum}: stopping after the current claim or task\n".encode())  # print() isn't reentrant
    stopping.set()


def heartbeat(task, done, lost):
    """Extends the lease every LEASE/3 s until `done`; sets `lost` on 409."""
    while not done.wait(LEASE / 3):
        try:
            status, body = api("POST", f"/api/tasks/{task['id']}/heartbeat",
                               {"worker_id": WORKER_ID, "lease_id": task["lease_id"], "lease_seconds": LEASE})
        except OSError as err:  # the server is unreachable: keep trying while the lease lasts
            log(f"task {task['id']}: heartbeat failed: {err}")
            continue
        if status == 409:
            log(f"task {task['id']}: lease lost or task cancelled: {body['detail']}")
            return lost.set()


def reporter(task, lost):
    """The handler's progress(percent, message=None): a heartbeat that carries how far the task got."""
    def progress(percent, message=None):
        body = {"worker_id": WORKER_ID, "lease_id": task["lease_id"], "lease_seconds": LEASE, "progress": percent}
        if message is not None:
            body["message"] = str(message)[:1000]
        try:
            status, answer = api("POST", f"/api/tasks/{task['id']}/heartbeat", body)
        except OSError as err:  # not reported; the work goes on
            return log(f"task {task['id']}: progress not reported: {err}")
        if status == 409:
            log(f"task {task['id']}: lease lost or task cancelled: {answer['detail']}")
            lost.set()
        elif status != 200:
            log(f"task {task['id']}: progress not reported ({status}): {answer.get('detail')}")
    return progress


def run(task, handler):
    """Runs the task; returns its outcome as exchange fields, or None once the lease is gone."""
    done, lost = threading.Event(), threading.Event()
    threading.Thread(target=heartbeat, args=(task, done, lost), daemon=True).start()
    attempt = {"task_id": task["id"], "lease_id": task["lease_id"]}
    try:
        outcome = {"completed": [{**attempt, "result": handler(task["parameters"], reporter(task, lost))}]}
    except Exception as err:
        outcome = {"failed": [{**attempt, "error_message": str(err) or repr(err), "retry": True}]}
    finally:
        done.set()
    if lost.is_set():
        return log(f"task {task['id']}: dropping the outcome, the lease is gone")
    return outcome


def main(type_names):
    unknown = [name for name in type_names if name not in HANDLERS]
    if not type_names or unknown:
        sys.exit(f"usage: worker.py TYPE [TYPE ...]; handlers exist for {sorted(HANDLERS)}, not for {unknown}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = {}  # task_type_id -> name; tasks carry only the id
    turn = {"worker_id": WORKER_ID, "task_types": type_names, "lease_seconds": LEASE}
    outcome = None  # the last task's outcome, reported by the next exchange
    log(f"claiming {type_names} from {BASE}")
    while outcome or not stopping.is_set():
        # Stopping: report the outcome in hand and claim nothing more.
        claim = {"limit": 0, "wait_seconds": 0} if stopping.is_set() else {"limit": 1, "wait_seconds": WAIT}
        try:
            status, answer = api("POST", "/api/tasks/exchange", {**turn, **claim, **(outcome or {})}, timeout=WAIT + 10)
        except OSError as err:  # server down: back off, then send the same outcome again
            log(f"exchange failed: {err}; retrying in 5 s")
            if stopping.wait(5) and outcome:
                log("stopping: the outcome was not reported; the task runs again once its lease expires")
                break
            continue
        if status != 200:
            # Refused as a whole (a result too large, say): sending it again would not help, so the
            # outcome is dropped and the task runs again once its lease expires. Busy or failing
            # (429, 5xx): the same outcome goes again.
            log(f"exchange answered {status}: {answer.get('detail')}; retrying in 5 s")
            if 400 <= status < 500 and status != 429:
                outcome = None
            stopping.wait(5)
            continue
        outcome = None
        for settled in answer["settled"]:
            log(f"task {settled['task_id']}:", settled.get("status") or f"not settled ({settled['error']['status']}): {settled['error']['detail']}")
        for task in answer["tasks"]:
            if task["task_type_id"] not in names:
                names = {t["id"]: t["name"] for t in api("GET", "/api/task-types?include_inactive=true")[1]}
            log(f"task {task['id']}: attempt {task['attempts']}/{task['max_attempts']}", task["parameters"])
            outcome = run(task, HANDLERS[names[task["task_type_id"]]])
    log("stopped")


if __name__ == "__main__":
    main(sys.argv[1:])
