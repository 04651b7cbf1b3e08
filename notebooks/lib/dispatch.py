# Databricks notebook source
# MAGIC %md
# MAGIC # Asynchronous fan-out: dispatcher logic
# MAGIC
# MAGIC Used by `async/dispatcher` (`%run ../lib/dispatch`). The state table lists the work: one row per
# MAGIC entry with its worker (the key of a worker job: the last path segment of the notebook the job runs),
# MAGIC parameters (the notebook's arguments), status, run id, attempts and submission token. Statuses:
# MAGIC `PENDING` (waiting), `SUBMITTING` (claimed by a pass, token chosen, run not yet recorded),
# MAGIC `RUNNING`, `DONE`, `FAILED` and `TIMED_OUT` (the last two are retried while attempts are left).
# MAGIC
# MAGIC Each pass, holding the dispatcher lease so that no two passes count slots at once:
# MAGIC 1. monitors: reads every `RUNNING` entry's run (`runs/get`, the Jobs API 2.2 `status`, `state` as
# MAGIC    fallback) and marks it `DONE` or `FAILED`; a run that no longer exists is `FAILED` with the
# MAGIC    reason; a run past the entry's deadline is cancelled and the entry `TIMED_OUT`;
# MAGIC 2. counts what is active (`runs/list?active_only=true`, every page): runs of the worker jobs,
# MAGIC    whoever started them, against the cap, and every task holding an execution context on the shared
# MAGIC    cluster (the dispatcher's own run, the orchestrators and their notebook runs, anything else)
# MAGIC    against the cluster's 145 (or, on job clusters, every task run against the workspace's 1000);
# MAGIC 3. submits: claims an entry (`SUBMITTING`, a fresh idempotency token, attempts + 1) with a MERGE
# MAGIC    that only matches the row as read, calls `run-now` of the entry's worker job with that token and
# MAGIC    the entry's parameters (plus `entry_key`, `attempt` and `work_item`, the entry's item name),
# MAGIC    then records run id and `RUNNING`. A pass that crashed in between leaves `SUBMITTING` and the
# MAGIC    token: the next pass calls `run-now` with the same token and Databricks returns the same run.
# MAGIC    Re-queueing an entry (status back to `PENDING`, or delete and re-insert) gives it a new token,
# MAGIC    so it really runs again.
# MAGIC
# MAGIC A permanent `run-now` error (4xx other than 429) uses the attempt and records the API's message;
# MAGIC a transient one (429, 5xx, no answer) leaves the entry `SUBMITTING` for the next pass; 401/403 say
# MAGIC the dispatcher's own identity is wrong, not the entry, so they stop the pass's submissions.
# MAGIC The decisions (`plan_pass`) are plain Python, so they are tested locally against a fake Jobs API.

# COMMAND ----------

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

PENDING, SUBMITTING, RUNNING, DONE, FAILED, TIMED_OUT = "PENDING", "SUBMITTING", "RUNNING", "DONE", "FAILED", "TIMED_OUT"
STATUSES = (PENDING, SUBMITTING, RUNNING, DONE, FAILED, TIMED_OUT)
RETRYABLE = (FAILED, TIMED_OUT)

# Jobs API 2.2 `state.life_cycle_state` values after which a run will not change any more.
TERMINAL_LIFE_CYCLE_STATES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
# Task states that hold an execution context, or are about to take one. BLOCKED tasks wait for an
# upstream task and hold nothing; terminal tasks have given theirs back.
CONTEXT_HOLDING_STATES = {"QUEUED", "PENDING", "RUNNING", "TERMINATING", "WAITING_FOR_RETRY"}

# In a change set: "the database's current time" (current_timestamp() in Delta).
NOW = "__current_timestamp__"


def life_cycle(run):
    """A run's or task's life-cycle state: `status.state` (Jobs API 2.2), else the deprecated `state.life_cycle_state`."""
    status = (run or {}).get("status") or {}
    return status.get("state") or ((run or {}).get("state") or {}).get("life_cycle_state")


def run_outcome(run):
    """(DONE or FAILED, failure text or None), or None while the run is still going.

    Reads the 2.2 `status` {state, termination_details {code, type, message}} first and falls back to
    the deprecated `state` {life_cycle_state, result_state, state_message} when a payload has no status.
    """
    status = (run or {}).get("status") or {}
    if status.get("state"):
        if status["state"] != "TERMINATED":
            return None
        details = status.get("termination_details") or {}
        if details.get("code") == "SUCCESS":
            return DONE, None
        parts = [details.get("code") or "TERMINATED", f"({details['type']})" if details.get("type") else None, details.get("message")]
        return FAILED, " ".join(part for part in parts if part)
    state = (run or {}).get("state") or {}
    life = state.get("life_cycle_state")
    if life not in TERMINAL_LIFE_CYCLE_STATES:
        return None
    if life == "TERMINATED" and state.get("result_state") == "SUCCESS":
        return DONE, None
    parts = [life, state.get("result_state"), state.get("state_message")]
    return FAILED, " ".join(str(part) for part in parts if part)


def epoch_seconds(value):
    """A timestamp as the state table returns it (datetime, ISO text or epoch seconds) in epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:  # Spark returns session-time-zone timestamps without tzinfo; jobs run in UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def canonical_arguments(arguments):
    """Arguments as one text: JSON with sorted keys and no spaces, as the orchestrators write the run log's `arguments`."""
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def default_item_name(notebook, arguments):
    """`<basename>` or, with arguments, `<basename>(k1=v1, k2=v2)` with keys sorted: how the orchestrators name an item by default."""
    basename = notebook.rstrip("/").split("/")[-1] or notebook
    if not arguments:
        return basename
    return f"{basename}({', '.join(f'{key}={arguments[key]}' for key in sorted(arguments))})"


def new_submission_token():
    """An idempotency token for one submission of one entry (Jobs API: at most 64 characters)."""
    return uuid.uuid4().hex


# COMMAND ----------

# DBTITLE 1,What is active: the cap and the cluster's execution contexts
def task_cluster_id(task):
    return task.get("existing_cluster_id") or (task.get("cluster_instance") or {}).get("cluster_id")


def active_usage(runs, worker_job_ids, cluster_id):
    """Counts from the active runs (`runs/list?active_only=true&expand_tasks=true`).

    fan_out: runs of the worker jobs, whoever started them (the cap counts these);
    contexts: tasks holding an execution context on the shared cluster, whatever their job;
    task_runs: tasks holding compute anywhere in the workspace.
    A run without tasks (a notebook run started by dbutils.notebook.run) counts as its own task.
    """
    usage = {"fan_out": 0, "contexts": 0, "task_runs": 0}
    for run in runs:
        if run.get("job_id") in worker_job_ids and life_cycle(run) not in TERMINAL_LIFE_CYCLE_STATES:
            usage["fan_out"] += 1
        for task in run.get("tasks") or [run]:
            if life_cycle(task) not in CONTEXT_HOLDING_STATES:
                continue
            usage["task_runs"] += 1
            if cluster_id is not None and task_cluster_id(task) == cluster_id:
                usage["contexts"] += 1
    return usage


def free_slots(usage, settings):
    """How many runs this pass may start: under the cap, and under the cluster's (or workspace's) limit."""
    if usage is None:
        return 0
    under_cap = settings["cap"] - usage["fan_out"]
    if settings.get("cluster_id"):
        under_limit = settings["context_limit"] - usage["contexts"]
    else:
        under_limit = settings["workspace_task_run_limit"] - usage["task_runs"]
    return max(0, min(under_cap, under_limit))


# COMMAND ----------

# DBTITLE 1,The decisions of one pass
def entry_problem(row, settings):
    """Why an entry can never run (unknown worker job, bad parameters), or None."""
    jobs = settings["worker_jobs"]
    if row["worker"] not in jobs:
        return f"unknown worker {row['worker']!r}; expected one of the worker jobs {', '.join(sorted(jobs))}"
    raw = row.get("parameters") or "{}"
    try:
        parameters = json.loads(raw)
    except ValueError as error:
        return f"parameters {raw!r} are not JSON ({error}); expected a JSON object of string values"
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        return f"parameters {raw!r}; expected a JSON object of string values"
    job = jobs[row["worker"]]
    allowed = job["parameters"]
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        notebook = f" (notebook {job['notebook']})" if job.get("notebook") else ""
        return f"parameters {', '.join(unknown)} are not parameters of worker {row['worker']!r}{notebook}; expected some of {', '.join(allowed)}"
    return None


def entry_parameters(row):
    """The entry's parameters as a dict, or None when they are not a JSON object of strings."""
    try:
        parameters = json.loads(row.get("parameters") or "{}")
    except ValueError:
        return None
    return parameters if isinstance(parameters, dict) and all(isinstance(v, str) for v in parameters.values()) else None


def entry_item(row, settings):
    """How the run log names an entry's work, as the orchestrators name an item of the same notebook and arguments.

    notebook: the worker job's notebook (the worker key for a job the stack no longer has);
    arguments: the entry's parameters as canonical JSON (None when unreadable); item: the default item name.
    """
    job = settings["worker_jobs"].get(row["worker"]) or {}
    notebook = job.get("notebook") or row["worker"]
    parameters = entry_parameters(row)
    return {
        "notebook": notebook,
        "item": default_item_name(notebook, parameters or {}),
        "arguments": canonical_arguments(parameters) if parameters is not None else None,
    }


def job_parameters(row, attempt, item):
    return {**json.loads(row.get("parameters") or "{}"), "entry_key": row["entry_key"], "attempt": str(attempt), "work_item": item}


def plan_pass(rows, runs, usage, now, settings):
    """Decide one dispatcher pass.

    rows: the state table's rows as read at the start of the pass.
    runs: {run_id: {"run": payload} | {"missing": api message} | {"error": text}} for RUNNING entries.
    usage: active_usage(...) now, or None when it could not be read (then nothing is submitted).
    now: epoch seconds. settings: worker_jobs {worker: {job_id, notebook, parameters}}, cap, max_attempts,
      deadline_seconds, cluster_id, context_limit, workspace_task_run_limit.

    Every update and submission names the status and attempts the row had when read, so that it is
    applied only if the row is still as this pass saw it.
    """
    max_attempts, deadline = settings["max_attempts"], settings["deadline_seconds"]
    plan = {"updates": [], "submissions": [], "still_running": [], "waiting": [], "unreadable": [], "free": free_slots(usage, settings)}
    resumes, candidates = [], []

    def update(row, status, last_error, **extra):
        plan["updates"].append({"entry_key": row["entry_key"], "worker": row["worker"], "parameters": row.get("parameters"), "expected_status": row["status"],
                                "expected_attempts": int(row.get("attempts") or 0), "status": status, "last_error": last_error, **extra})

    for row in rows:
        key, status, attempts = row["entry_key"], row.get("status"), int(row.get("attempts") or 0)
        started = epoch_seconds(row.get("submitted_at"))
        answer = runs.get(row.get("run_id")) or {}
        if started is None and (answer.get("run") or {}).get("start_time"):  # an entry submitted before submitted_at existed
            started = answer["run"]["start_time"] / 1000
        overdue = started is not None and now - started > deadline
        if status not in STATUSES:
            update(row, FAILED, f"unknown status {status!r}; expected one of {', '.join(STATUSES)}", attempts=max_attempts)
        elif status == RUNNING:
            run_id = row.get("run_id")
            answer = runs.get(run_id) if run_id is not None else {"missing": "the entry has no run id"}
            if answer is None or "error" in answer:
                plan["unreadable"].append(key)
            elif "missing" in answer:
                update(row, FAILED, f"run {run_id} no longer exists: {answer['missing']}", run={"run_id": run_id})
            else:
                outcome = run_outcome(answer["run"])
                if outcome is not None:
                    update(row, outcome[0], outcome[1], run=answer["run"])
                elif overdue:
                    update(row, TIMED_OUT, f"deadline of {deadline // 60} min passed with the run {life_cycle(answer['run'])}; run {run_id} cancelled",
                           run=answer["run"], cancel_run_id=run_id)
                else:
                    plan["still_running"].append(key)
        elif status == SUBMITTING:
            problem = entry_problem(row, settings)
            if problem:
                update(row, FAILED, problem, attempts=max_attempts)
            elif overdue:
                update(row, TIMED_OUT, f"deadline of {deadline // 60} min passed before run-now answered; last error: {row.get('last_error') or 'none'}")
            else:
                resumes.append(row)
        elif status == PENDING or (status in RETRYABLE and attempts < max_attempts):
            problem = entry_problem(row, settings)
            if problem:
                update(row, FAILED, problem, attempts=max_attempts)
            else:
                candidates.append(row)

    candidates.sort(key=lambda row: (str(row.get("created_at") or ""), row["entry_key"]))
    queue = [(row, "resume") for row in resumes] + [(row, "claim") for row in candidates]
    for row, kind in queue[: plan["free"]]:
        attempts = int(row.get("attempts") or 0)
        attempt = attempts if kind == "resume" else attempts + 1
        plan["submissions"].append({
            "entry_key": row["entry_key"],
            "worker": row["worker"],
            "kind": kind,
            "job_id": settings["worker_jobs"][row["worker"]]["job_id"],
            "job_parameters": job_parameters(row, attempt, entry_item(row, settings)["item"]),
            "attempt": attempt,
            "token": row.get("submission_token") if kind == "resume" else None,
            "expected_status": row["status"],
            "expected_attempts": attempts,
        })
    plan["waiting"] = [row["entry_key"] for row, _ in queue[plan["free"]:]]
    return plan


# COMMAND ----------

# DBTITLE 1,Jobs API client
class JobsApiError(Exception):
    """An error answer (or none) from the Jobs API, with what the API said."""

    def __init__(self, method, path, status=None, error_code=None, message=""):
        self.status, self.error_code, self.api_message = status, error_code, message
        said = " ".join(part for part in (f"HTTP {status}" if status else None, error_code) if part)
        super().__init__(f"{method} {path}: {said + ': ' if said else ''}{message}")

    @property
    def not_found(self):
        """The run or job does not exist (any more)."""
        return (self.status == 404 or self.error_code == "RESOURCE_DOES_NOT_EXIST"
                or (self.status == 400 and "does not exist" in (self.api_message or "").lower()))

    @property
    def about_credentials(self):
        """401/403: the dispatcher's own identity cannot call the API; no entry is at fault."""
        return self.status in (401, 403)

    @property
    def permanent(self):
        """A 4xx other than 429: asking again with the same request gets the same answer."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429 and not self.about_credentials


class JobsApiClient:
    """The Jobs API 2.2 calls the dispatcher makes, with retries on 429 (Retry-After) and 5xx."""

    def __init__(self, host, token, timeout_seconds=30, retries=4, sleep=time.sleep):
        self._host = host.rstrip("/")
        self._token = token
        self._timeout = timeout_seconds
        self._retries = retries
        self._sleep = sleep

    def _call(self, method, path, query=None, body=None):
        url = f"{self._host}/api/2.2/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
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
                text = error.read().decode("utf-8", "replace")
                try:
                    answer = json.loads(text)
                except ValueError:
                    answer = {"message": text[:300]}
                raise JobsApiError(method, path, error.code, answer.get("error_code"), answer.get("message", "")) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt < self._retries:
                    self._sleep(2 ** attempt)
                    continue
                raise JobsApiError(method, path, message=f"no answer ({error})") from None
        raise JobsApiError(method, path, message="no answer")

    def active_runs(self):
        """Every active run with its tasks, following next_page_token (runs/list pages at most 25)."""
        runs, token = [], None
        while True:
            page = self._call("GET", "jobs/runs/list", {"active_only": "true", "expand_tasks": "true", "limit": 25, "page_token": token})
            runs.extend(page.get("runs", []))
            token = page.get("next_page_token")
            if not token or not page.get("has_more", True):
                return runs

    def get_run(self, run_id):
        return self._call("GET", "jobs/runs/get", {"run_id": run_id})

    def cancel_run(self, run_id):
        self._call("POST", "jobs/runs/cancel", body={"run_id": run_id})

    def run_now(self, job_id, job_parameters, idempotency_token):
        answer = self._call("POST", "jobs/run-now", body={
            "job_id": job_id, "job_parameters": job_parameters, "idempotency_token": idempotency_token})
        return answer["run_id"]


# COMMAND ----------

# DBTITLE 1,State table and lease in Delta
STATE_COLUMNS = "entry_key, worker, parameters, status, run_id, attempts, created_at, last_error, submission_token, submitted_at"


# SQL types of the columns a pass sets, for the typed source rows of its MERGEs.
COLUMN_TYPES = {"status": "STRING", "run_id": "BIGINT", "attempts": "INT", "last_error": "STRING", "submission_token": "STRING"}


class DeltaStateStore:
    """The state table. A pass writes with a few MERGEs, each matching only rows still as the pass read them.

    One MERGE per kind of change rather than one per entry: a pass that submits 50 entries makes two
    commits, not a hundred, which keeps passes short and the table's history (and its trigger) quiet.
    """

    def __init__(self, spark, table):
        self._spark = spark
        self.table = table

    def read_rows(self, max_attempts):
        """Every entry that may still need work: not DONE, and not FAILED/TIMED_OUT with no attempts left."""
        rows = self._spark.sql(
            f"SELECT {STATE_COLUMNS} FROM {self.table}"
            f" WHERE status IS NULL OR (status <> '{DONE}'"
            f" AND NOT (status IN ('{FAILED}', '{TIMED_OUT}') AND coalesce(attempts, 0) >= {int(max_attempts)}))"
        ).collect()
        return [row.asDict() if hasattr(row, "asDict") else dict(row) for row in rows]

    def apply(self, updates):
        """Apply each {entry_key, expected_status, expected_attempts, changes} whose row is still as expected.

        Returns the keys whose rows took their changes: all of a MERGE's when it updated as many rows as it
        was given (the usual case, one pass at a time), else those whose rows read back hold the changes.
        """
        groups = {}
        for update in updates:
            groups.setdefault(tuple(update["changes"]), []).append(update)
        applied = set()
        for columns, group in groups.items():
            metrics = self._merge(columns, group)
            if metrics is not None and int(metrics["num_affected_rows"]) == len(group):
                applied.update(update["entry_key"] for update in group)
            else:
                applied.update(self._read_back(group))
        return applied

    def _read_back(self, group):
        keys = {f"k{i}": update["entry_key"] for i, update in enumerate(group)}
        rows = self._spark.sql(f"SELECT {STATE_COLUMNS} FROM {self.table} WHERE entry_key IN ({', '.join(':' + name for name in keys)})", args=keys).collect()
        written = {row["entry_key"]: row for row in (r.asDict() if hasattr(r, "asDict") else dict(r) for r in rows)}
        return {update["entry_key"] for update in group if update["entry_key"] in written
                and all(value == NOW or written[update["entry_key"]].get(column) == value for column, value in update["changes"].items())}

    def _merge(self, columns, group):
        args, rows = {}, []
        for i, update in enumerate(group):
            cells = [f"CAST(:k{i} AS STRING)", f"CAST(:s{i} AS STRING)", f"CAST(:a{i} AS INT)"]
            args.update({f"k{i}": update["entry_key"], f"s{i}": update["expected_status"], f"a{i}": update["expected_attempts"]})
            for column in columns:
                if update["changes"][column] != NOW:
                    cells.append(f"CAST(:{column}{i} AS {COLUMN_TYPES[column]})")
                    args[f"{column}{i}"] = update["changes"][column]
            rows.append(f"({', '.join(cells)})")
        sourced = [column for column in columns if group[0]["changes"][column] != NOW]
        assignments = [f"target.{column} = current_timestamp()" if group[0]["changes"][column] == NOW else f"target.{column} = source.{column}" for column in columns]
        return self._spark.sql(
            f"""
            MERGE INTO {self.table} AS target
            USING (VALUES {", ".join(rows)}) AS source(entry_key, expected_status, expected_attempts{"".join(", " + c for c in sourced)})
            ON target.entry_key = source.entry_key
            WHEN MATCHED AND target.status = source.expected_status AND coalesce(target.attempts, 0) = source.expected_attempts
              THEN UPDATE SET {", ".join(assignments + ["target.updated_at = current_timestamp()"])}
            """,
            args=args,
        ).first()


class DeltaLease:
    """One row in a small lease table: a pass counts slots and submits only while it holds the lease.

    Acquiring is a conditional MERGE (the row is free, expired or already ours); two passes racing for
    it conflict in Delta and one of them fails, which counts as not acquired. The lease table is not
    the state table, so taking and giving back the lease does not fire the state table's trigger.
    """

    def __init__(self, spark, table, holder, seconds, name="dispatcher"):
        self._spark, self.table, self.holder, self._seconds, self._name = spark, table, holder, int(seconds), name
        self.problem = None

    def acquire(self):
        try:
            metrics = self._spark.sql(
                f"""
                MERGE INTO {self.table} AS target
                USING (SELECT :name AS name, :holder AS holder) AS source
                ON target.name = source.name
                WHEN MATCHED AND (target.expires_at IS NULL OR target.expires_at < current_timestamp() OR target.holder = source.holder)
                  THEN UPDATE SET target.holder = source.holder, target.acquired_at = current_timestamp(),
                                  target.expires_at = current_timestamp() + INTERVAL {self._seconds} SECONDS
                WHEN NOT MATCHED
                  THEN INSERT (name, holder, acquired_at, expires_at)
                       VALUES (source.name, source.holder, current_timestamp(), current_timestamp() + INTERVAL {self._seconds} SECONDS)
                """,
                args={"name": self._name, "holder": self.holder},
            ).first()
        except Exception as error:
            # Delta's optimistic concurrency: another pass's MERGE committed first. Anything else (no
            # lease table, no permission) fails the run, so that someone is told.
            if "concurrent" not in f"{type(error).__name__} {error}".lower():
                raise
            self.problem = f"lost the race for the lease: {error}"
            return False
        if metrics is None or int(metrics["num_affected_rows"]) != 1:
            held = self._spark.sql(f"SELECT holder, expires_at FROM {self.table} WHERE name = :name", args={"name": self._name}).first()
            self.problem = f"held by {held['holder']} until {held['expires_at']}" if held else "held by another pass"
            return False
        return True

    def release(self):
        self._spark.sql(
            f"UPDATE {self.table} SET expires_at = current_timestamp() WHERE name = :name AND holder = :holder",
            args={"name": self._name, "holder": self.holder},
        )


# COMMAND ----------

# DBTITLE 1,One pass
REPORT_KINDS = ("submitted", "finished", "failed", "timed_out", "still_running", "waiting", "lost_race", "errors")


def run_pass(store, api, lease, settings, log_runs=None, log=print, clock=time.time, new_token=new_submission_token):
    """Lease, monitor, count, submit, record. Returns a report of what was done; never loses an entry's state.

    log_runs, when given, receives the runs that ended this pass at once, each a dict: worker, notebook, item,
    arguments (see entry_item), run (the runs/get payload), status, error, attempts.
    """
    report = {kind: [] for kind in REPORT_KINDS}
    report.update(lease=None, usage=None, free=0)
    if not lease.acquire():
        report["lease"] = f"not acquired ({lease.problem}); this pass did nothing"
        log(f"Dispatcher pass skipped: the lease is {lease.problem}")
        return report
    report["lease"] = lease.holder
    try:
        _monitor_and_submit(store, api, settings, report, log_runs, clock, new_token)
    finally:
        lease.release()
    usage = report["usage"] or {}
    log(
        f"Dispatcher pass: {len(report['submitted'])} submitted, {len(report['still_running'])} still running, "
        f"{len(report['finished'])} finished, {len(report['failed'])} failed, {len(report['timed_out'])} timed out, "
        f"{len(report['waiting'])} waiting for a slot ({usage.get('fan_out', '?')} of the cap {settings['cap']} active"
        + (f", {usage.get('contexts', '?')} of {settings['context_limit']} execution contexts in use" if settings.get("cluster_id") else "")
        + f"), {len(report['lost_race'])} already handled by another pass, {len(report['errors'])} API errors"
    )
    for kind in ("submitted", "finished", "failed", "timed_out", "waiting", "lost_race", "errors"):
        for item in report[kind]:
            log(f"  {kind}: {item}")
    return report


def _monitor_and_submit(store, api, settings, report, log_runs, clock, new_token):
    rows = store.read_rows(settings["max_attempts"])
    runs = {}
    for row in rows:
        if row.get("status") == RUNNING and row.get("run_id") is not None:
            try:
                runs[row["run_id"]] = {"run": api.get_run(row["run_id"])}
            except JobsApiError as error:
                if error.not_found:
                    runs[row["run_id"]] = {"missing": f"{error.error_code or error.status}: {error.api_message}"}
                else:  # the entry stays RUNNING and is read again next pass
                    runs[row["run_id"]] = {"error": str(error)}
                    report["errors"].append(f"{row['entry_key']}: cannot read run {row['run_id']}: {error}")
    worker_job_ids = {job["job_id"] for job in settings["worker_jobs"].values()}
    try:
        report["usage"] = active_usage(api.active_runs(), worker_job_ids, settings.get("cluster_id"))
    except JobsApiError as error:  # without the count nothing is submitted; monitoring still counts
        report["errors"].append(f"cannot count active runs: {error}")
    plan = plan_pass(rows, runs, report["usage"], clock(), settings)
    report["free"], report["still_running"], report["waiting"] = plan["free"], plan["still_running"], plan["waiting"]

    # 1. Finished, lost and overdue entries (overdue runs cancelled first).
    updates = []
    for update in plan["updates"]:
        if update.get("cancel_run_id") is not None:
            try:
                api.cancel_run(update["cancel_run_id"])
            except JobsApiError as error:
                if not error.not_found:  # try again next pass, still RUNNING
                    report["errors"].append(f"{update['entry_key']}: cannot cancel run {update['cancel_run_id']}: {error}")
                    continue
        changes = {"status": update["status"], "last_error": update["last_error"]}
        if "attempts" in update:
            changes["attempts"] = update["attempts"]
        updates.append({**update, "changes": changes})
    applied = store.apply(updates)
    ended = []
    for update in updates:
        if update["entry_key"] not in applied:
            report["lost_race"].append(update["entry_key"])
            continue
        report[{DONE: "finished", FAILED: "failed", TIMED_OUT: "timed_out"}[update["status"]]].append(update["entry_key"])
        if update.get("run"):
            ended.append({"worker": update["worker"], **entry_item(update, settings), "run": update["run"], "status": update["status"],
                          "error": update["last_error"], "attempts": update.get("attempts", update["expected_attempts"])})
    if log_runs and ended:
        log_runs(ended)

    # 2. Claim the entries to submit: SUBMITTING, a fresh token, the attempt counted.
    submissions = [dict(submission) for submission in plan["submissions"]]
    claims = []
    for submission in submissions:
        if submission["kind"] == "claim" or not submission["token"]:
            submission["token"] = new_token()
            claims.append({"entry_key": submission["entry_key"], "expected_status": submission["expected_status"],
                           "expected_attempts": submission["expected_attempts"],
                           "changes": {"status": SUBMITTING, "submission_token": submission["token"], "attempts": submission["attempt"],
                                       "submitted_at": NOW, "run_id": None, "last_error": None}})
    claimed = store.apply(claims)
    claimed_keys = {claim["entry_key"] for claim in claims}

    # 3. run-now with each entry's token, then record every outcome at once.
    outcomes = []
    for submission in submissions:
        key, attempt = submission["entry_key"], submission["attempt"]
        if key in claimed_keys and key not in claimed:
            report["lost_race"].append(key)
            continue
        expected = {"entry_key": key, "expected_status": SUBMITTING, "expected_attempts": attempt}
        try:
            run_id = api.run_now(submission["job_id"], submission["job_parameters"], submission["token"])
        except JobsApiError as error:
            if error.permanent:
                outcomes.append({**expected, "changes": {"status": FAILED, "last_error": f"run-now refused: {error.error_code or error.status}: {error.api_message}"}})
                report["failed"].append(key)
                continue
            # Transient, or the dispatcher's credentials: the entry stays SUBMITTING with its token.
            outcomes.append({**expected, "changes": {"last_error": f"run-now: {error}"}})
            report["errors"].append(f"{key}: run-now failed: {error}")
            if error.about_credentials:
                break
            continue
        outcomes.append({**expected, "changes": {"status": RUNNING, "run_id": run_id, "last_error": None}, "submitted": True})
    recorded = store.apply(outcomes)
    for outcome in outcomes:
        if outcome.get("submitted"):
            report["submitted" if outcome["entry_key"] in recorded else "lost_race"].append(outcome["entry_key"])
