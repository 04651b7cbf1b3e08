# Databricks notebook source
# MAGIC %md
# MAGIC # Orchestration helpers
# MAGIC
# MAGIC Shared by the sequential and the parallel orchestrator (`%run ../lib/orchestration`):
# MAGIC job-parameter parsing, one worker run with a timeout and retries, the longest-first dispatch
# MAGIC order, and the run summary. Every worker's outcome is captured as data, never as an exception,
# MAGIC so that an orchestrator can always report all of them before it decides how the run ends.

# COMMAND ----------

import json
import re
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
SKIPPED = "SKIPPED"

# dbutils.notebook.run raises a WorkflowException whose text says when the run timed out.
_TIMEOUT_PATTERN = re.compile(r"timed?[ _-]?out", re.IGNORECASE)
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
def int_parameter(name, default, minimum, maximum):
    """An integer job parameter (a widget); empty means the rendered default."""
    dbutils.widgets.text(name, str(default))
    raw = dbutils.widgets.get(name).strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Job parameter {name}={raw!r} is not an integer; expected {minimum} to {maximum}") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"Job parameter {name}={value} is out of range; expected {minimum} to {maximum}")
    return value


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
    retry_backoff_seconds: int
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
        retry_backoff_seconds=int_parameter("retry_backoff_seconds", retry_backoff_seconds, 0, 3600),
        run_id=text_parameter("run_id"),
    )


def select_workers(workers, names_parameter):
    """The `workers` job parameter: a comma-separated subset of worker names, empty for all."""
    if not names_parameter:
        return list(workers)
    wanted = [name.strip() for name in names_parameter.split(",") if name.strip()]
    known = [worker["name"] for worker in workers]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(
            f"Job parameter workers={names_parameter!r} names unknown worker(s) {', '.join(unknown)}; "
            f"expected a comma-separated subset of {', '.join(known)}"
        )
    return [worker for worker in workers if worker["name"] in wanted]


# COMMAND ----------

# DBTITLE 1,Longest-first dispatch order
def read_run_log_history(run_log_table, worker_names, runs):
    """Durations of each worker's last `runs` successful runs, from the run-log table.

    Rows of the asynchronous dispatcher (mode `async`) are left out: they time whole job runs, queue
    and cluster start included. Returns {} when the table cannot be read (first run of a new environment): the order then falls
    back to configured estimates, never failing the orchestration.
    """
    if not worker_names:
        return {}
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in worker_names)
    query = f"""
        SELECT notebook, duration_seconds
        FROM (
            SELECT notebook, duration_seconds,
                   ROW_NUMBER() OVER (PARTITION BY notebook ORDER BY finished_at DESC) AS recency
            FROM {run_log_table}
            WHERE status = 'SUCCEEDED' AND duration_seconds IS NOT NULL AND notebook IN ({names})
              AND orchestration_mode <> 'async'
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
        history.setdefault(row["notebook"], []).append(float(row["duration_seconds"]))
    return history


def plan_dispatch(workers, history):
    """Order workers longest expected first (LPT), and say where each estimate came from.

    Estimates: the median of the worker's recent successful runs in the run log, else the worker's
    configured `expected_seconds`. Workers with no estimate go first, in declared order, because an
    unknown run may be a long one. With no estimate at all the declared order is kept.
    """
    estimates = {}
    sources = {}
    for worker in workers:
        name = worker["name"]
        if history.get(name):
            estimates[name] = statistics.median(history[name])
            sources[name] = "run_log_history"
        elif worker.get("expected_seconds") is not None:
            estimates[name] = float(worker["expected_seconds"])
            sources[name] = "configured"
    used = sorted(set(sources.values()), key=["run_log_history", "configured"].index)
    if not used:
        return list(workers), "declared", estimates
    declared_index = {worker["name"]: index for index, worker in enumerate(workers)}
    unknown = [worker for worker in workers if worker["name"] not in estimates]
    known = sorted(
        (worker for worker in workers if worker["name"] in estimates),
        key=lambda worker: (-estimates[worker["name"]], declared_index[worker["name"]]),
    )
    source = "+".join(used) + ("+declared" if unknown else "")
    return unknown + known, source, estimates


# COMMAND ----------

# DBTITLE 1,One worker run: timeout, retries, outcome
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


def run_worker(worker, parameters):
    """Run one worker notebook with `dbutils.notebook.run`, retrying failures with exponential backoff.

    Returns the outcome as a dict; it never raises for a failed or timed-out worker.
    """
    name = worker["name"]
    started_at = utc_now()
    started = time.monotonic()
    status, error, exit_value, attempt = FAILED, None, None, 0
    for attempt in range(1, parameters.max_retries + 2):
        arguments = {**worker.get("arguments", {}), **parameters.run_arguments, "attempt": str(attempt)}
        log(f"[{name}] attempt {attempt} started")
        try:
            exit_value = parse_exit_value(dbutils.notebook.run(worker["path"], parameters.timeout_seconds, arguments))
            status, error = SUCCEEDED, None
            break
        except Exception as failure:  # the outcome records it; the orchestrator decides at the end
            status = TIMED_OUT if _TIMEOUT_PATTERN.search(str(failure)) else FAILED
            error = f"{type(failure).__name__}: {failure}".strip()
            if attempt <= parameters.max_retries:
                delay = backoff_seconds(parameters.retry_backoff_seconds, attempt)
                log(f"[{name}] attempt {attempt} {status}: {error.splitlines()[0]}; retrying in {delay:g}s")
                time.sleep(delay)
    duration = time.monotonic() - started
    log(f"[{name}] {status} after {attempt} attempt(s) in {duration:.1f}s")
    return {
        "name": name,
        "path": worker["path"],
        "status": status,
        "attempts": attempt,
        "started_at": started_at,
        "finished_at": utc_now(),
        "duration_seconds": round(duration, 3),
        "exit_value": exit_value,
        "error": error,
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
        "exit_value": None,
        "error": reason,
    }


def crashed_outcome(worker, failure):
    """An outcome for a worker whose thread failed outside run_worker, so no result is ever lost."""
    outcome = skipped_outcome(worker, f"{type(failure).__name__}: {failure}")
    outcome["status"] = FAILED
    return outcome


# COMMAND ----------

# DBTITLE 1,Summary
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
    rows = [("worker", "status", "attempts", "seconds", "detail")]
    for outcome in summary["workers"]:
        if outcome["status"] == SUCCEEDED:
            detail = outcome["exit_value"]
            if isinstance(detail, dict):
                detail = ", ".join(f"{k}={v}" for k, v in detail.items() if k in ("rows_merged", "output_table"))
        else:
            detail = (outcome["error"] or "").splitlines()[0] if outcome["error"] else ""
        rows.append((outcome["name"], outcome["status"], str(outcome["attempts"]), f"{outcome['duration_seconds']:.1f}", str(detail or "")[:80]))
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
