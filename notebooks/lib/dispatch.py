# Databricks notebook source
# MAGIC %md
# MAGIC # Asynchronous fan-out: dispatcher logic
# MAGIC
# MAGIC Used by `async/dispatcher` (`%run ../lib/dispatch`). The state table lists the work: one row per
# MAGIC entry with its worker, parameters, status (`PENDING`, `RUNNING`, `DONE`, `FAILED`), run id and
# MAGIC attempts. Each dispatcher pass
# MAGIC 1. monitors: reads the state of every `RUNNING` entry's job run and marks it `DONE` or `FAILED`;
# MAGIC 2. counts the job runs active in the workspace and submits `PENDING` entries, and `FAILED` ones
# MAGIC    with attempts left, up to the concurrency cap, through `run-now` of the worker job;
# MAGIC 3. records run id, `RUNNING` and attempts with a MERGE that only matches the row as this pass
# MAGIC    read it.
# MAGIC
# MAGIC The decisions (`plan_pass`) are plain Python, apart from Spark and HTTP, so they are tested
# MAGIC locally. Duplicate submissions are prevented twice over: every `run-now` carries an idempotency
# MAGIC token derived from the entry and its attempt number, so two overlapping passes (or a pass retried
# MAGIC after a crash) get the same run back instead of a second one, and the conditional MERGE lets only
# MAGIC one of them record it. An API error leaves the entry exactly as it was, for the next pass.

# COMMAND ----------

import hashlib
import json
import time
import urllib.error
import urllib.request

PENDING, RUNNING, DONE, FAILED = "PENDING", "RUNNING", "DONE", "FAILED"
STATUSES = (PENDING, RUNNING, DONE, FAILED)

# Jobs API 2.2 life-cycle states after which a run will not change any more.
TERMINAL_LIFE_CYCLE_STATES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


def run_outcome(state):
    """DONE, FAILED, or None while the run is still going, from a run's `state` object."""
    life_cycle = (state or {}).get("life_cycle_state")
    if life_cycle not in TERMINAL_LIFE_CYCLE_STATES:
        return None
    if life_cycle == "TERMINATED" and state.get("result_state") == "SUCCESS":
        return DONE
    return FAILED


def failure_text(state):
    parts = [state.get("life_cycle_state"), state.get("result_state"), state.get("state_message")]
    return " ".join(str(part) for part in parts if part)


def idempotency_token(job_id, entry_key, attempt):
    """A run-now idempotency token (at most 64 characters) unique to the job, the entry and the attempt."""
    return hashlib.sha256(f"{job_id}\n{entry_key}\n{attempt}".encode("utf-8")).hexdigest()


# COMMAND ----------

# DBTITLE 1,The decisions of one pass
def plan_pass(rows, run_states, active_count, cap, max_attempts, known_workers=None):
    """Decide one dispatcher pass.

    rows: the state table's rows as read at the start of the pass (dicts with entry_key, worker,
      parameters, status, run_id, attempts, created_at, last_error).
    run_states: {run_id: {"state": {...}, "start_time": ms, "end_time": ms, "run_duration": ms}} for
      the RUNNING entries whose run could be read; a run missing here (API error) stays RUNNING.
    active_count: job runs active in the workspace now; cap: the most that may be active.

    Returns {"updates": [...], "submissions": [...], "still_running": [...], "skipped_for_cap": [...],
    "unreadable": [...]}. Every update and submission names the status and attempts the row had when
    read, so that it is applied only if the row is still as this pass saw it.
    """
    updates, submissions, still_running, skipped, unreadable = [], [], [], [], []
    candidates = []
    for row in rows:
        key, status, attempts = row["entry_key"], row["status"], int(row.get("attempts") or 0)
        expected = {"entry_key": key, "expected_status": status, "expected_attempts": attempts}
        if status == RUNNING:
            run = run_states.get(row.get("run_id"))
            if run is None:
                unreadable.append(key)
                continue
            outcome = run_outcome(run.get("state"))
            if outcome is None:
                still_running.append(key)
            else:
                updates.append({**expected, "status": outcome, "run": run, "worker": row["worker"],
                                "last_error": None if outcome == DONE else failure_text(run.get("state", {}))})
        elif status not in STATUSES:
            updates.append({**expected, "status": FAILED, "attempts": max_attempts, "worker": row["worker"],
                            "last_error": f"unknown status {status!r}; expected one of {', '.join(STATUSES)}"})
        elif known_workers is not None and row["worker"] not in known_workers and status in (PENDING, FAILED) and attempts < max_attempts:
            updates.append({**expected, "status": FAILED, "attempts": max_attempts, "worker": row["worker"],
                            "last_error": f"unknown worker {row['worker']!r}; expected one of {', '.join(sorted(known_workers))}"})
        elif status == PENDING or (status == FAILED and attempts < max_attempts):
            candidates.append(row)
    candidates.sort(key=lambda row: (str(row.get("created_at") or ""), row["entry_key"]))
    free = max(0, cap - active_count)
    for row in candidates[:free]:
        attempts = int(row.get("attempts") or 0)
        submissions.append({
            "entry_key": row["entry_key"],
            "worker": row["worker"],
            "parameters": row.get("parameters") or "{}",
            "attempt": attempts + 1,
            "expected_status": row["status"],
            "expected_attempts": attempts,
        })
    skipped = [row["entry_key"] for row in candidates[free:]]
    return {"updates": updates, "submissions": submissions, "still_running": still_running,
            "skipped_for_cap": skipped, "unreadable": unreadable}


# COMMAND ----------

# DBTITLE 1,Jobs API client
class JobsApiError(Exception):
    pass


class JobsApiClient:
    """The three Jobs API 2.2 calls the dispatcher makes, with retries on 429 and 5xx."""

    def __init__(self, host, token, timeout_seconds=30, retries=4, sleep=time.sleep):
        self._host = host.rstrip("/")
        self._token = token
        self._timeout = timeout_seconds
        self._retries = retries
        self._sleep = sleep

    def _call(self, method, path, query=None, body=None):
        url = f"{self._host}/api/2.2/{path}"
        if query:
            url += "?" + "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in query.items() if v is not None)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        for attempt in range(self._retries + 1):
            request = urllib.request.Request(url, data=data, method=method, headers={
                "Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return json.loads(response.read().decode("utf-8") or "{}")
            except urllib.error.HTTPError as error:
                if (error.code == 429 or error.code >= 500) and attempt < self._retries:
                    self._sleep(float(error.headers.get("Retry-After") or 2 ** attempt))
                    continue
                raise JobsApiError(f"{method} {path}: HTTP {error.code} {error.read().decode('utf-8', 'replace')[:300]}") from None
            except (urllib.error.URLError, TimeoutError) as error:
                if attempt < self._retries:
                    self._sleep(2 ** attempt)
                    continue
                raise JobsApiError(f"{method} {path}: {error}") from None
        raise JobsApiError(f"{method} {path}: no answer")

    def active_run_count(self):
        count, token = 0, None
        while True:
            page = self._call("GET", "jobs/runs/list", {"active_only": "true", "limit": 25, "page_token": token})
            count += len(page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                return count

    def get_run(self, run_id):
        return self._call("GET", "jobs/runs/get", {"run_id": run_id})

    def run_now(self, job_id, job_parameters, idempotency_token):
        answer = self._call("POST", "jobs/run-now", body={
            "job_id": job_id, "job_parameters": job_parameters, "idempotency_token": idempotency_token})
        return answer["run_id"]


# COMMAND ----------

# DBTITLE 1,State table in Delta
class DeltaStateStore:
    """The state table. Updates are MERGEs that match only the row as the pass read it."""

    def __init__(self, spark, table):
        self._spark = spark
        self.table = table

    def read_rows(self, max_attempts):
        """Every entry that may still need work: not DONE, and not FAILED with no attempts left."""
        rows = self._spark.sql(
            f"SELECT entry_key, worker, parameters, status, run_id, attempts, created_at, last_error FROM {self.table}"
            f" WHERE status IS NULL OR (status <> '{DONE}' AND NOT (status = '{FAILED}' AND coalesce(attempts, 0) >= {int(max_attempts)}))"
        ).collect()
        return [row.asDict() if hasattr(row, "asDict") else dict(row) for row in rows]

    def apply(self, entry_key, expected_status, expected_attempts, changes):
        """Set `changes` on the entry if it still has the expected status and attempts; True if it did."""
        assignments = ", ".join([f"target.{column} = :{column}" for column in changes] + ["target.updated_at = current_timestamp()"])
        metrics = self._spark.sql(
            f"""
            MERGE INTO {self.table} AS target
            USING (SELECT :entry_key AS entry_key) AS source
            ON target.entry_key = source.entry_key
            WHEN MATCHED AND target.status = :expected_status AND coalesce(target.attempts, 0) = :expected_attempts
              THEN UPDATE SET {assignments}
            """,
            args={"entry_key": entry_key, "expected_status": expected_status, "expected_attempts": expected_attempts, **changes},
        ).first()
        return metrics is not None and int(metrics["num_affected_rows"]) == 1


# COMMAND ----------

# DBTITLE 1,One pass
def run_pass(store, api, worker_job_id, cap, max_attempts, known_workers, log_run=None, log=print):
    """Monitor, count, submit, record. Returns a report of what was done; never loses an entry's state."""
    report = {"finished": [], "failed": [], "submitted": [], "still_running": [], "skipped_for_cap": [],
              "lost_race": [], "errors": []}
    rows = store.read_rows(max_attempts)
    run_states = {}
    for row in rows:
        if row["status"] == RUNNING and row.get("run_id") is not None:
            try:
                run_states[row["run_id"]] = api.get_run(row["run_id"])
            except Exception as error:  # the entry stays RUNNING and is read again next pass
                report["errors"].append(f"{row['entry_key']}: cannot read run {row['run_id']}: {error}")
    try:
        active = api.active_run_count()
    except Exception as error:  # without the count nothing is submitted; monitoring still counts
        report["errors"].append(f"cannot count active runs: {error}")
        active = cap
    plan = plan_pass(rows, run_states, active, cap, max_attempts, known_workers)
    report["still_running"] = plan["still_running"]
    report["skipped_for_cap"] = plan["skipped_for_cap"]

    for update in plan["updates"]:
        changes = {"status": update["status"], "last_error": update["last_error"]}
        if "attempts" in update:
            changes["attempts"] = update["attempts"]
        if store.apply(update["entry_key"], update["expected_status"], update["expected_attempts"], changes):
            report["finished" if update["status"] == DONE else "failed"].append(update["entry_key"])
            if log_run and update.get("run"):
                log_run(update["worker"], update["run"], update["status"], update["last_error"], update["expected_attempts"])
        else:
            report["lost_race"].append(update["entry_key"])

    for submission in plan["submissions"]:
        key = submission["entry_key"]
        try:
            run_id = api.run_now(
                worker_job_id,
                {"worker": submission["worker"], "parameters": submission["parameters"], "entry_key": key},
                idempotency_token(worker_job_id, key, submission["attempt"]),
            )
        except Exception as error:  # the entry stays as it was and is submitted again next pass
            report["errors"].append(f"{key}: run-now failed: {error}")
            continue
        recorded = store.apply(key, submission["expected_status"], submission["expected_attempts"],
                               {"status": RUNNING, "run_id": run_id, "attempts": submission["attempt"], "last_error": None})
        report["submitted" if recorded else "lost_race"].append(key)

    log(
        f"Dispatcher pass: {len(report['submitted'])} submitted, {len(report['still_running'])} still running, "
        f"{len(report['finished'])} finished, {len(report['failed'])} failed, {len(report['skipped_for_cap'])} skipped for the cap "
        f"({active} active of {cap}), {len(report['lost_race'])} already handled by another pass, {len(report['errors'])} API errors"
    )
    for kind in ("submitted", "finished", "failed", "skipped_for_cap", "lost_race", "errors"):
        for item in report[kind]:
            log(f"  {kind}: {item}")
    return report
