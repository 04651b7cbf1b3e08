# Databricks notebook source
# MAGIC %md
# MAGIC # Orchestration helpers
# MAGIC
# MAGIC Shared by the sequential and the parallel orchestrator (`%run ../lib/orchestration`): job-parameter
# MAGIC parsing, one attempt at a worker with `dbutils.notebook.run` and what its failure means, the
# MAGIC dispatch loop both orchestrators run (slots, order, retries re-queued behind their backoff), the
# MAGIC longest-first order, the run-log rows and the run summary. Every worker's outcome is captured as
# MAGIC data, never as an exception, so that an orchestrator can always report all of them before it
# MAGIC decides how the run ends.

# COMMAND ----------

import heapq
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
SKIPPED = "SKIPPED"

_MAX_BACKOFF_SECONDS = 600
_print_lock = threading.Lock()


def log(message):
    """Print one line at a time, even from several worker threads."""
    with _print_lock:
        print(message, flush=True)


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# COMMAND ----------

# DBTITLE 1,Job parameters
def _number_parameter(name, default, minimum, maximum, parse, kind):
    dbutils.widgets.text(name, str(default))
    raw = dbutils.widgets.get(name).strip()
    if raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"Job parameter {name}={raw!r} is not {kind}; expected {minimum} to {maximum}") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"Job parameter {name}={value} is out of range; expected {minimum} to {maximum}")
    return value


def int_parameter(name, default, minimum, maximum):
    """An integer job parameter (a widget); empty means the rendered default."""
    return _number_parameter(name, default, minimum, maximum, int, "an integer")


def seconds_parameter(name, default, minimum, maximum):
    """A duration job parameter in seconds, fractions allowed (e.g. 0.5); empty means the rendered default."""

    def parse(raw):
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
            raise ValueError(raw)
        return value

    return _number_parameter(name, default, minimum, maximum, parse, "a number of seconds")


def text_parameter(name, default=""):
    dbutils.widgets.text(name, default)
    return dbutils.widgets.get(name).strip()


@dataclass(frozen=True)
class RunParameters:
    """What both orchestrators take as job parameters, each defaulting to its rendered value."""

    mode: str
    workers: list
    timeout_seconds: int
    max_retries: int
    retry_backoff_seconds: float
    run_id: str

    @property
    def run_arguments(self):
        """Arguments every worker gets besides its own: how and in which run it was called."""
        return {"orchestration_mode": self.mode, "run_id": self.run_id}


def run_parameters(mode, workers, timeout_seconds, max_retries, retry_backoff_seconds):
    return RunParameters(
        mode=mode,
        workers=select_workers(workers, text_parameter("workers")),
        timeout_seconds=int_parameter("timeout_seconds", timeout_seconds, 0, 7 * 24 * 3600),
        max_retries=int_parameter("max_retries", max_retries, 0, 10),
        retry_backoff_seconds=seconds_parameter("retry_backoff_seconds", retry_backoff_seconds, 0, 3600),
        run_id=text_parameter("run_id"),
    )


def select_workers(workers, names_parameter):
    """The `workers` job parameter: a comma-separated subset of worker names, empty for all."""
    known = [worker["name"] for worker in workers]
    expected = f"expected a comma-separated subset of {', '.join(known)}, or empty for all of them"
    if not names_parameter:
        return list(workers)
    wanted = [name.strip() for name in names_parameter.split(",")]
    if not any(wanted):
        raise ValueError(f"Job parameter workers={names_parameter!r} names no worker; {expected}")
    if not all(wanted):
        raise ValueError(f"Job parameter workers={names_parameter!r} has an empty name between commas; {expected}")
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"Job parameter workers={names_parameter!r} names unknown worker(s) {', '.join(unknown)}; {expected}")
    return [worker for worker in workers if worker["name"] in wanted]


# COMMAND ----------

# DBTITLE 1,Longest-first dispatch order
RUN_LOG_MODES = ("parallel", "sequential")


def read_run_log_history(run_log_table, worker_names, runs):
    """Wall times of each worker's last `runs` successful attempts, per orchestration mode, from the run log.

    Only the orchestrators' rows (`recorded_by = 'orchestrator'`) count: their `wall_seconds` is what a slot
    is held for (the `dbutils.notebook.run` call, start-up included), the unit of `workerExpectedSeconds`.
    The workers' own rows time their SQL only; the asynchronous dispatcher's time whole job runs.
    Returns {worker: {mode: [seconds, ...]}}, or {} when the table cannot be read (first run of a new
    environment): the order then falls back to configured estimates, never failing the orchestration.
    """
    if not worker_names:
        return {}
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in worker_names)
    modes = ", ".join(f"'{mode}'" for mode in RUN_LOG_MODES)
    query = f"""
        SELECT notebook, orchestration_mode, wall_seconds
        FROM (
            SELECT notebook, orchestration_mode, wall_seconds,
                   ROW_NUMBER() OVER (PARTITION BY notebook, orchestration_mode ORDER BY finished_at DESC) AS recency
            FROM {run_log_table}
            WHERE recorded_by = 'orchestrator' AND status = 'SUCCEEDED' AND wall_seconds IS NOT NULL
              AND orchestration_mode IN ({modes}) AND notebook IN ({names})
        )
        WHERE recency <= {int(runs)}
    """
    try:
        rows = spark.sql(query).collect()
    except Exception as error:  # a missing table must not stop the run
        log(f"Run-log history unavailable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); using configured estimates")
        return {}
    history = {}
    for row in rows:
        history.setdefault(row["notebook"], {}).setdefault(row["orchestration_mode"], []).append(float(row["wall_seconds"]))
    return history


ESTIMATE_SOURCES = ("run_log_parallel", "run_log_sequential", "configured")


def plan_dispatch(workers, history):
    """Order workers longest expected first (LPT), and say where each estimate came from.

    A worker's estimate is the median wall time of its recent successful attempts in parallel runs
    (`run_log_parallel`); without those, in sequential runs (`run_log_sequential`: no contention for the
    driver, so often shorter, and labelled as such); else its configured `expected_seconds`. Workers with
    no estimate go first, in declared order, because an unknown run may be a long one. With no estimate at
    all the declared order is kept. Returns (order, order_source, estimates, estimate_sources).
    """
    estimates, sources = {}, {}
    for worker in workers:
        name = worker["name"]
        by_mode = history.get(name, {})
        for mode in RUN_LOG_MODES:
            if by_mode.get(mode):
                estimates[name] = statistics.median(by_mode[mode])
                sources[name] = f"run_log_{mode}"
                break
        else:
            if worker.get("expected_seconds") is not None:
                estimates[name] = float(worker["expected_seconds"])
                sources[name] = "configured"
    used = [source for source in ESTIMATE_SOURCES if source in sources.values()]
    if not used:
        return list(workers), "declared", estimates, sources
    declared_index = {worker["name"]: index for index, worker in enumerate(workers)}
    unknown = [worker for worker in workers if worker["name"] not in estimates]
    known = sorted(
        (worker for worker in workers if worker["name"] in estimates),
        key=lambda worker: (-estimates[worker["name"]], declared_index[worker["name"]]),
    )
    source = "+".join(used) + ("+declared" if unknown else "")
    return unknown + known, source, estimates, sources


# COMMAND ----------

# DBTITLE 1,One attempt: what dbutils.notebook.run raised
# In Python, dbutils.notebook.run raises py4j's Py4JJavaError; its `java_exception` is the Java exception
# thrown in the driver, a com.databricks.WorkflowException. What the child run did is in its cause:
# - com.databricks.NotebookExecutionException: the child run ended, and the message starts with its
#   result state, e.g. "FAILED" or "FAILED: Workload failed, see run output for details" (the worker's
#   own error is in the child run's output, not here) or "CANCELED"; "TIMEDOUT" is the Jobs API's state
#   for a run stopped at its timeout, so an exception arriving once the timeout has passed without a
#   state that says otherwise is a timeout too;
# - com.databricks.common.client.DatabricksServiceHttpClientException: the workspace refused the request,
#   e.g. "REQUEST_LIMIT_EXCEEDED: There are already 1 active runs (limit: 1)", so no child run started;
# - anything else (e.g. org.apache.http.conn.ConnectTimeoutException: the driver could not reach the
#   control plane): what became of the child run is unknown.
# Documented contract: "if run doesn't finish within the specified time, it throws an exception"
# (https://learn.microsoft.com/azure/databricks/notebooks/notebook-workflows).
NOTEBOOK_EXECUTION_EXCEPTION = "com.databricks.NotebookExecutionException"
HTTP_CLIENT_EXCEPTION = "com.databricks.common.client.DatabricksServiceHttpClientException"
TIMEDOUT_RESULT_STATE = "TIMEDOUT"


def java_exception_chain(failure):
    """The Java exceptions behind a Py4JJavaError, outermost first, as (class name, message) pairs."""
    chain, java = [], getattr(failure, "java_exception", None)
    while java is not None and len(chain) < 20:
        chain.append((java.getClass().getName(), java.getMessage() or ""))
        java = java.getCause()
    return chain


def child_result_state(chain):
    """The child run's result state, from the NotebookExecutionException in the chain; None if there is none."""
    for class_name, message in chain:
        if class_name == NOTEBOOK_EXECUTION_EXCEPTION:
            return message.split(":", 1)[0].strip()
    return None


def classify_failure(failure, waited_seconds, timeout_seconds):
    """What a failed dbutils.notebook.run call means: (status, child_ended, reason it may not be retried).

    A timeout is told apart by what was raised, never by the words in the error text: the child's result
    state TIMEDOUT, or an exception that says nothing about the child arriving once the timeout has passed.
    `child_ended` is True only when Databricks said the child run ended or never started; only then can a
    retry not MERGE into the worker's table while the previous attempt still does.
    """
    chain = java_exception_chain(failure)
    state = child_result_state(chain)
    deadline_passed = timeout_seconds > 0 and waited_seconds >= timeout_seconds
    if state == TIMEDOUT_RESULT_STATE or (state is None and deadline_passed):
        return TIMED_OUT, False, "it timed out, and the child run's cancellation may not have reached its MERGE yet"
    if state is not None:
        return FAILED, True, None
    if any(class_name == HTTP_CLIENT_EXCEPTION for class_name, _ in chain):
        return FAILED, True, None
    return FAILED, False, "Databricks did not say whether the child run ended, so it may still be running"


def parse_exit_value(value):
    """Workers exit with JSON; keep anything else as the plain string it is."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def backoff_seconds(retry_backoff_seconds, attempt):
    return min(retry_backoff_seconds * (2 ** (attempt - 1)), _MAX_BACKOFF_SECONDS)


def describe_failure(failure):
    """One line for the summary: the Java exception dbutils.notebook.run threw (without py4j's preamble and
    the stack trace), or the Python exception."""
    chain = java_exception_chain(failure)
    if chain:
        class_name, message = chain[0]
        return f"{class_name}: {message}".strip()
    first_line = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
    return f"{type(failure).__name__}: {first_line}".strip()


def run_attempt(worker, parameters, attempt):
    """One `dbutils.notebook.run` of a worker, timed from the call to its return: the wall time a slot is held.

    Returns the attempt as a dict; it never raises for a failed or timed-out worker.
    """
    arguments = {**worker.get("arguments", {}), **parameters.run_arguments, "attempt": str(attempt)}
    log(f"[{worker['name']}] attempt {attempt} started")
    started_at, started = utc_now(), time.monotonic()
    record = {"attempt": attempt, "started_at": started_at, "exit_value": None, "error": None, "child_ended": True, "not_retried": None}
    try:
        record["exit_value"] = parse_exit_value(dbutils.notebook.run(worker["path"], parameters.timeout_seconds, arguments))
        record["status"] = SUCCEEDED
    except Exception as failure:  # the outcome records it; the orchestrator decides at the end
        waited = time.monotonic() - started
        record["status"], record["child_ended"], record["not_retried"] = classify_failure(failure, waited, parameters.timeout_seconds)
        record["error"] = describe_failure(failure)
    record["wall_seconds"] = round(time.monotonic() - started, 3)
    record["finished_at"] = utc_now()
    return record


def crashed_attempt(attempt, failure):
    """An attempt whose thread failed outside run_attempt, so no result is ever lost."""
    now = utc_now()
    return {
        "attempt": attempt, "started_at": now, "finished_at": now, "wall_seconds": 0.0, "status": FAILED, "exit_value": None,
        "error": describe_failure(failure), "child_ended": False, "not_retried": "the orchestrator failed around this attempt",
    }


def worker_outcome(worker, attempts):
    """A worker's outcome from its attempts: the last one decides; wall time is summed over all of them."""
    last = attempts[-1]
    started = datetime.fromisoformat(attempts[0]["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(last["finished_at"].replace("Z", "+00:00"))
    return {
        "name": worker["name"],
        "path": worker["path"],
        "status": last["status"],
        "attempts": len(attempts),
        "started_at": attempts[0]["started_at"],
        "finished_at": last["finished_at"],
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "wall_seconds": round(sum(a["wall_seconds"] for a in attempts), 3),
        "exit_value": last["exit_value"],
        "error": last["error"],
        "not_retried": last["not_retried"] if last["status"] != SUCCEEDED else None,
        "attempt_history": [
            {key: a[key] for key in ("attempt", "status", "started_at", "finished_at", "wall_seconds", "error")} for a in attempts
        ],
    }


def skipped_outcome(worker, reason):
    return {
        "name": worker["name"],
        "path": worker["path"],
        "status": SKIPPED,
        "attempts": 0,
        "started_at": None,
        "finished_at": None,
        "duration_seconds": 0.0,
        "wall_seconds": 0.0,
        "exit_value": None,
        "error": reason,
        "not_retried": None,
        "attempt_history": [],
    }


# COMMAND ----------

# DBTITLE 1,The dispatch loop both orchestrators run
def run_workers(dispatch, parameters, slots, in_order=False):
    """Run every worker in `dispatch` with at most `slots` `dbutils.notebook.run` calls in flight.

    Each slot is a thread that, whenever it is free, takes the ready attempt of the worker earliest in
    `dispatch`. A failed attempt whose child run is known to have ended is retried (up to `max_retries`)
    after an exponential backoff that it waits out in a queue, not in a slot: the slot runs the next
    worker meanwhile, so a transient failure costs the pool the failed attempt, not the backoff; once
    due, the retry keeps its worker's place in the order. A timed-out attempt is not retried (its child
    run may still be running). With `in_order` (the sequential orchestrator), a worker only becomes
    ready once the one before it succeeded, and the first that fails for good marks the rest SKIPPED.
    Returns {worker name: outcome}.
    """
    state = _DispatchState(dispatch, parameters, in_order)
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="worker") as pool:
        for slot in [pool.submit(state.serve_slot) for _ in range(max(1, min(slots, len(dispatch))))]:
            slot.result()
    return state.outcomes


class _DispatchState:
    """What run_workers' slots share, under one condition: attempts ready to run (a heap on the dispatch
    position), retries waiting for their backoff (a heap on the time they are due), attempts running."""

    def __init__(self, dispatch, parameters, in_order):
        self.dispatch, self.parameters, self.in_order = dispatch, parameters, in_order
        self.ready = [(index, 1) for index in range(len(dispatch))][: 1 if in_order else None]
        heapq.heapify(self.ready)
        self.waiting = []
        self.running = 0
        self.attempts = {worker["name"]: [] for worker in dispatch}
        self.outcomes = {}
        self.changed = threading.Condition()

    def serve_slot(self):
        """One slot: run the next ready attempt until nothing is left to run."""
        while (next_attempt := self._take_next()) is not None:
            index, attempt = next_attempt
            try:
                record = run_attempt(self.dispatch[index], self.parameters, attempt)
            except Exception as failure:
                record = crashed_attempt(attempt, failure)
            with self.changed:
                try:
                    self._record(index, attempt, record)
                finally:
                    self.running -= 1
                    self.changed.notify_all()

    def _take_next(self):
        """The next (position, attempt) to run, waiting until one is due; None once nothing can become ready."""
        with self.changed:
            while True:
                now = time.monotonic()
                while self.waiting and self.waiting[0][0] <= now:
                    _, index, attempt = heapq.heappop(self.waiting)
                    heapq.heappush(self.ready, (index, attempt))
                if self.ready:
                    self.running += 1
                    return heapq.heappop(self.ready)
                if not self.waiting and self.running == 0:
                    return None
                self.changed.wait(self.waiting[0][0] - now if self.waiting else None)

    def _record(self, index, attempt, record):
        worker = self.dispatch[index]
        attempts = self.attempts[worker["name"]]
        attempts.append(record)
        if record["status"] == SUCCEEDED:
            self._finish(worker, attempts)
            if self.in_order and index + 1 < len(self.dispatch):
                heapq.heappush(self.ready, (index + 1, 1))
            return
        first_line = record["error"].splitlines()[0] if record["error"] else record["status"]
        if attempt <= self.parameters.max_retries:
            if record["child_ended"]:
                delay = backoff_seconds(self.parameters.retry_backoff_seconds, attempt)
                log(f"[{worker['name']}] attempt {attempt} {record['status']}: {first_line}; retrying in {delay:g}s")
                heapq.heappush(self.waiting, (time.monotonic() + delay, index, attempt + 1))
                return
            log(f"[{worker['name']}] attempt {attempt} {record['status']}: {first_line}; not retried: {record['not_retried']}")
        else:
            record["not_retried"] = None  # retries used up: nothing more to say
        self._finish(worker, attempts)
        if self.in_order:
            for later in self.dispatch[index + 1:]:
                self.outcomes[later["name"]] = skipped_outcome(later, f"not run: {worker['name']} {record['status']}")

    def _finish(self, worker, attempts):
        outcome = worker_outcome(worker, attempts)
        log(f"[{worker['name']}] {outcome['status']} after {outcome['attempts']} attempt(s), {outcome['wall_seconds']:.1f}s in a slot")
        self.outcomes[worker["name"]] = outcome


# COMMAND ----------

# DBTITLE 1,Run log and summary
RUN_LOG_VALUES = (
    ("notebook", ":notebook_{i}"),
    ("orchestration_mode", ":mode_{i}"),
    ("run_id", ":run_id_{i}"),
    ("attempt", ":attempt_{i}"),
    ("started_at", "CAST(:started_at_{i} AS TIMESTAMP)"),
    ("finished_at", "CAST(:finished_at_{i} AS TIMESTAMP)"),
    ("duration_seconds", ":duration_{i}"),
    ("wall_seconds", ":wall_{i}"),
    ("rows_merged", ":rows_merged_{i}"),
    ("status", ":status_{i}"),
    ("error", ":error_{i}"),
    ("recorded_by", "'orchestrator'"),
)


def run_log_rows(parameters, outcomes):
    """One row per dbutils.notebook.run attempt: its wall time and, for the attempt that succeeded, the
    worker's own SQL time and merged rows from its exit value (`duration_seconds`, `rows_merged`)."""
    rows = []
    for worker in parameters.workers:
        outcome = outcomes[worker["name"]]
        for attempt in outcome["attempt_history"]:
            exit_value = outcome["exit_value"] if attempt["status"] == SUCCEEDED and isinstance(outcome["exit_value"], dict) else {}
            rows.append({
                "notebook": worker["name"],
                "mode": parameters.mode,
                "run_id": parameters.run_id,
                "attempt": attempt["attempt"],
                "started_at": attempt["started_at"],
                "finished_at": attempt["finished_at"],
                "duration": exit_value.get("duration_seconds"),
                "wall": attempt["wall_seconds"],
                "rows_merged": exit_value.get("rows_merged"),
                "status": attempt["status"],
                "error": attempt["error"],
            })
    return rows


def append_to_run_log(run_log_table, parameters, outcomes):
    """Append the attempts to the run log in one INSERT (one Delta commit; appends never conflict).

    A run log that cannot be written is reported, and does not change how the run ends.
    """
    rows = run_log_rows(parameters, outcomes)
    if not rows:
        return
    columns = ", ".join(column for column, _ in RUN_LOG_VALUES)
    values = ",\n".join("(" + ", ".join(value.format(i=i) for _, value in RUN_LOG_VALUES) + ")" for i in range(len(rows)))
    args = {f"{key}_{i}": value for i, row in enumerate(rows) for key, value in row.items()}
    try:
        spark.sql(f"INSERT INTO {run_log_table} ({columns})\nVALUES {values}", args=args)
    except Exception as failure:
        log(f"Could not append {len(rows)} attempt(s) to the run log {run_log_table}: {describe_failure(failure)}")


def build_summary(parameters, outcomes, started_at, started, extra=None):
    """The run's JSON summary; workers are listed in declared order whatever order they ran in."""
    ordered = [outcomes[worker["name"]] for worker in parameters.workers]
    summary = {
        "mode": parameters.mode,
        "status": SUCCEEDED if all(o["status"] == SUCCEEDED for o in ordered) else FAILED,
        "run_id": parameters.run_id,
        "started_at": started_at,
        "finished_at": utc_now(),
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    summary.update(extra or {})
    summary["workers"] = ordered
    return summary


def format_summary_table(summary):
    rows = [("worker", "status", "attempts", "in slot", "detail")]
    for outcome in summary["workers"]:
        if outcome["status"] == SUCCEEDED:
            detail = outcome["exit_value"]
            if isinstance(detail, dict):
                detail = ", ".join(f"{k}={v}" for k, v in detail.items() if k in ("rows_merged", "output_table"))
        else:
            detail = (outcome["error"] or "").splitlines()[0] if outcome["error"] else ""
            if outcome.get("not_retried"):
                detail = f"{detail} (not retried: {outcome['not_retried']})"
        rows.append((outcome["name"], outcome["status"], str(outcome["attempts"]), f"{outcome['wall_seconds']:.1f}s", str(detail or "")[:200]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    failed = sum(1 for o in summary["workers"] if o["status"] != SUCCEEDED)
    lines.append(f"{summary['mode']} run {summary['status']}: {len(summary['workers']) - failed} of {len(summary['workers'])} workers succeeded in {summary['duration_seconds']:.1f}s")
    return "\n".join(lines)


def finish(summary):
    """Print the summary table, then fail the job run if any worker did not succeed, or exit with the JSON summary."""
    log(format_summary_table(summary))
    summary_json = json.dumps(summary)
    if summary["status"] != SUCCEEDED:
        failed = [f"{o['name']} ({o['status']})" for o in summary["workers"] if o["status"] != SUCCEEDED]
        raise RuntimeError(f"{len(failed)} of {len(summary['workers'])} workers did not succeed: {', '.join(failed)}\nSummary: {summary_json}")
    dbutils.notebook.exit(summary_json)
