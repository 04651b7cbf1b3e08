# Databricks notebook source
# MAGIC %md
# MAGIC # Orchestration helpers
# MAGIC
# MAGIC Shared by the sequential and the parallel orchestrator (`%run ../lib/orchestration`) and by setup:
# MAGIC the work items an orchestrator runs (rendered, from the job parameter `items`, or from a query over a
# MAGIC control table, each checked with the same rules and messages as `parseWorkItems` in
# MAGIC components/workItems.ts), job-parameter parsing, one attempt at an item with `dbutils.notebook.run`
# MAGIC and what its failure means, the dispatch loop both orchestrators run (slots, order, retries re-queued
# MAGIC behind their backoff), the longest-first order, the run log (its table and rows) and the run summary.
# MAGIC Every item's outcome is captured as data, never as an exception, so that an orchestrator can always
# MAGIC report all of them before it decides how the run ends.

# COMMAND ----------

import heapq
import json
import math
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

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

# DBTITLE 1,Work items: the same checks as parseWorkItems (components/workItems.ts)
WORK_ITEM_FIELDS = ("notebook", "arguments", "name", "expected_seconds")
# Widgets the orchestrators set on every attempt; an item setting one would be overridden silently.
RESERVED_ARGUMENTS = ("orchestration_mode", "run_id", "attempt", "work_item")
ITEMS_EXAMPLE = '[{"notebook": "workers/daily_sales"}, {"notebook": "ingest/ingest_table", "arguments": {"table": "sales.orders"}}]'


def canonical_arguments(arguments):
    """Arguments as one text: JSON with sorted keys and no spaces (the run log's `arguments` column, the history key).
    Non-ASCII characters are kept as they are, as JavaScript's JSON.stringify keeps them."""
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def default_item_name(notebook, arguments):
    """`<basename>` or, with arguments, `<basename>(k1=v1, k2=v2)` with keys sorted."""
    basename = notebook.rstrip("/").split("/")[-1] or notebook
    if not arguments:
        return basename
    return f"{basename}({', '.join(f'{key}={arguments[key]}' for key in sorted(arguments))})"


def _without_workspace_prefix(path):
    return path[len("/Workspace"):] if path.startswith("/Workspace/") else path


def normalise_notebook(notebook, folder):
    """An absolute path inside the stack's folder becomes relative to it, whether or not either is written with
    the `/Workspace` prefix (`/Workspace/Shared/x` is `/Shared/x`); anything else is kept."""
    prefix = _without_workspace_prefix(folder.rstrip("/")) + "/"
    path = _without_workspace_prefix(notebook)
    return path[len(prefix):] if path.startswith(prefix) else notebook


def notebook_path(notebook, folder):
    """The workspace path an item's notebook is run at."""
    return notebook if notebook.startswith("/") else f"{folder.rstrip('/')}/{notebook}"


def _js_number(value):
    """A number as JavaScript writes it (5, not 5.0), so both validators print the same text."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return "null"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
    return repr(value)


def _describe(value):
    """What a JSON value is, in the words of describe() in components/workItems.ts."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"number {_js_number(value)}"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    return f"{type(value).__name__} {value!r}"


def _js_string(value):
    """String(value) in JavaScript, for the hint that says how to write a non-string argument."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _js_number(value)
    return str(value)


def _edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        previous, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (0 if a[i - 1] == b[j - 1] else 1))
            previous = current
    return row[len(b)]


def _closest(word, candidates):
    """closestName in components/configKeys.ts: at most 2 edits, or a quarter of the word's length, ignoring
    case; ties go to the first in sorted order."""
    limit = max(2, len(word) // 4)
    scored = sorted((_edit_distance(word.lower(), candidate.lower()), candidate) for candidate in candidates)
    return scored[0][1] if scored and scored[0][0] <= limit else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_work_items(value, known_notebooks, folder):
    """Reads a list of work items in the shared JSON shape; returns (items, problems).

    Collects every problem rather than stopping at the first, with the same rules and messages as
    `parseWorkItems` in components/workItems.ts: not a non-empty array, unknown fields, an unknown
    relative notebook, non-string or reserved arguments, a negative or non-numeric estimate, two items
    with the same notebook and arguments, two with the same name. Items are dicts with `name`,
    `notebook` (normalised), `path`, `arguments` and `expected_seconds` (None when not given), as the
    rendered ITEMS are; with any problem the item list is empty.
    """
    if not isinstance(value, list):
        return [], [f"expected a JSON array of work items, got {_describe(value)}"]
    if not value:
        return [], ["expected at least one work item, got an empty array"]
    problems, items = [], []
    for index, raw in enumerate(value):
        at = f"item {index + 1}"
        entry = {"notebook": raw} if isinstance(raw, str) else raw if isinstance(raw, dict) else None
        if entry is None:
            problems.append(
                f'{at}: expected an object with "notebook" (and optional "arguments", "name", "expected_seconds") or a notebook path, got {_describe(raw)}'
            )
            items.append(None)
            continue
        before = len(problems)
        for field in entry:
            if field not in WORK_ITEM_FIELDS:
                meant = _closest(field, WORK_ITEM_FIELDS)
                hint = f' (did you mean "{meant}"?)' if meant else ""
                problems.append(f'{at}: unknown field "{field}"{hint}; expected {", ".join(WORK_ITEM_FIELDS)}')
        raw_notebook = entry.get("notebook")
        notebook = normalise_notebook(raw_notebook.strip(), folder) if isinstance(raw_notebook, str) else None
        if not notebook:
            what = "is missing" if "notebook" not in entry else f"is {_describe(raw_notebook)}"
            problems.append(f'{at}: "notebook" {what}; expected a notebook path')
        elif not notebook.startswith("/") and notebook not in known_notebooks:
            meant = _closest(notebook, known_notebooks)
            hint = f' (did you mean "{meant}"?)' if meant else ""
            problems.append(
                f'{at}: unknown notebook "{notebook}"{hint}; expected one of the uploaded notebooks '
                f"({', '.join(known_notebooks) or 'none'}) or an absolute workspace path starting with /"
            )
        arguments = {}
        raw_arguments = entry.get("arguments")
        if raw_arguments is not None:
            if not isinstance(raw_arguments, dict):
                problems.append(f'{at}: "arguments" is {_describe(raw_arguments)}; expected an object of widget name to string value')
            else:
                for key, argument in raw_arguments.items():
                    if key.strip() == "":
                        problems.append(f"{at}: an argument has an empty name; expected widget names")
                    elif key in RESERVED_ARGUMENTS:
                        problems.append(
                            f'{at}: argument "{key}" is set by the orchestrator on every attempt; expected other widget names than {", ".join(RESERVED_ARGUMENTS)}'
                        )
                    elif not isinstance(argument, str):
                        problems.append(
                            f'{at}: argument "{key}" is {_describe(argument)}; expected a string (widget values are strings: '
                            + ("encode it as one JSON string" if isinstance(argument, (list, dict)) else f'write "{_js_string(argument)}"')
                            + ")"
                        )
                    else:
                        arguments[key] = argument
        name = None
        raw_name = entry.get("name")
        if raw_name is not None:
            if not isinstance(raw_name, str) or raw_name.strip() == "":
                problems.append(f'{at}: "name" is {_describe(raw_name)}; expected a non-empty string')
            else:
                name = raw_name.strip()
        expected_seconds = None
        raw_expected = entry.get("expected_seconds")
        if raw_expected is not None:
            if not _is_number(raw_expected) or not math.isfinite(raw_expected) or raw_expected < 0:
                problems.append(f'{at}: "expected_seconds" is {_describe(raw_expected)}; expected a number of seconds >= 0')
            else:
                expected_seconds = raw_expected
        if len(problems) == before and notebook:
            items.append({
                "name": name if name is not None else default_item_name(notebook, arguments),
                "notebook": notebook,
                "path": notebook_path(notebook, folder),
                "arguments": arguments,
                "expected_seconds": expected_seconds,
            })
        else:
            items.append(None)
    by_identity, by_name = {}, {}
    for index, item in enumerate(items):
        if item is None:
            continue
        identity = (item["notebook"], canonical_arguments(item["arguments"]))
        if identity in by_identity:
            problems.append(
                f'item {index + 1}: duplicate item: same notebook "{item["notebook"]}" and arguments {identity[1]} as item {by_identity[identity] + 1}; expected each item once'
            )
            continue
        by_identity[identity] = index
        if item["name"] in by_name:
            problems.append(
                f'item {index + 1}: name "{item["name"]}" is also item {by_name[item["name"]] + 1}\'s; expected unique names (set "name" on one of them)'
            )
        by_name[item["name"]] = index
    return ([], problems) if problems else (items, [])


def _invalid_items_error(origin, problems):
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return ValueError(
        f"{origin} is not a valid list of work items ({len(problems)} problem(s)); expected items like {ITEMS_EXAMPLE}, "
        f"no work item was started:\n{listed}"
    )


def items_from_parameter(text, known_notebooks, folder):
    """The job parameter `items`: a JSON array of work items, checked in full before any item starts."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"Job parameter items is not JSON ({error}); expected a JSON array of work items like {ITEMS_EXAMPLE}") from None
    items, problems = parse_work_items(value, known_notebooks, folder)
    if problems:
        raise _invalid_items_error("Job parameter items", problems)
    return items


def _row_as_dict(row):
    """A Spark Row (or a dict) as a plain dict of its columns."""
    return row.asDict() if hasattr(row, "asDict") else dict(row)


def _row_as_item(row):
    """A control-table row in the work-item JSON shape: `arguments` from a MAP (a dict), a STRUCT (a Row)
    or a JSON object text; DECIMAL estimates as numbers; NULL is absent, as null is in JSON. Other columns
    stay, so that the checks name them."""
    entry = _row_as_dict(row)
    arguments = entry.get("arguments")
    if hasattr(arguments, "asDict"):
        entry["arguments"] = arguments.asDict()
    elif isinstance(arguments, str):
        try:
            entry["arguments"] = json.loads(arguments)
        except ValueError:
            pass  # reported as a string where an object is expected
    elif arguments is not None and not isinstance(arguments, dict) and hasattr(arguments, "items"):
        entry["arguments"] = dict(arguments.items())
    if isinstance(entry.get("expected_seconds"), Decimal):
        entry["expected_seconds"] = float(entry["expected_seconds"])
    return entry


def items_from_query(query, known_notebooks, folder):
    """The rendered work-items query, run now: each row is an item (columns notebook, arguments, name,
    expected_seconds), checked like the job parameter."""
    try:
        rows = spark.sql(query).collect()
    except Exception as failure:
        raise RuntimeError(f"The work items query failed, so no work item was started: {describe_failure(failure)}\nQuery: {query.strip()}") from failure
    if not rows:
        raise ValueError(
            f"The work items query returned no items; expected one row per item with columns {', '.join(WORK_ITEM_FIELDS)}\nQuery: {query.strip()}"
        )
    items, problems = parse_work_items([_row_as_item(row) for row in rows], known_notebooks, folder)
    if problems:
        raise _invalid_items_error("The work items query's result (item N is row N)", problems)
    return items


def resolve_items(rendered_items, known_notebooks, folder, work_items_query):
    """The items this run fans out and where they came from, first that applies: the job parameter
    `items`, the rendered work-items query, the rendered items."""
    text = text_parameter("items")
    if text:
        return items_from_parameter(text, known_notebooks, folder), "job_parameter"
    if work_items_query is not None:
        return items_from_query(work_items_query, known_notebooks, folder), "work_items_query"
    return [dict(item) for item in rendered_items], "rendered"


def select_items(items, names_parameter):
    """The `workers` job parameter: a comma-separated subset of item names (or a JSON array of names, for
    names with commas), empty for all; the items keep their order."""
    known = [item["name"] for item in items]
    expected = f"expected a comma-separated subset (or a JSON array) of {', '.join(known)}, or empty for all of them"
    if not names_parameter:
        return list(items)
    if names_parameter.startswith("["):
        try:
            wanted = json.loads(names_parameter)
        except ValueError as error:
            raise ValueError(f"Job parameter workers={names_parameter!r} is not a JSON array ({error}); {expected}") from None
        if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
            raise ValueError(f"Job parameter workers={names_parameter!r} is not an array of names; {expected}")
        wanted = [name.strip() for name in wanted]
    else:
        wanted = [name.strip() for name in names_parameter.split(",")]
    if not any(wanted):
        raise ValueError(f"Job parameter workers={names_parameter!r} names no item; {expected}")
    if not all(wanted):
        raise ValueError(f"Job parameter workers={names_parameter!r} has an empty name between commas; {expected}")
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"Job parameter workers={names_parameter!r} names unknown item(s) {', '.join(unknown)}; {expected}")
    return [item for item in items if item["name"] in wanted]


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
    items: list
    items_source: str
    common_arguments: dict
    timeout_seconds: int
    max_retries: int
    retry_backoff_seconds: float
    run_id: str

    def attempt_arguments(self, item, attempt):
        """The widgets of one attempt: the common arguments, overridden by the item's own, plus how, in which
        run, at which attempt and as which item it was called."""
        return {
            **self.common_arguments,
            **item.get("arguments", {}),
            "orchestration_mode": self.mode,
            "run_id": self.run_id,
            "attempt": str(attempt),
            "work_item": item["name"],
        }


def run_parameters(mode, rendered_items, common_arguments, notebook_folder, known_notebooks, work_items_query, timeout_seconds, max_retries, retry_backoff_seconds):
    """Every job parameter, read and checked before any item starts; the items as resolve_items finds them."""
    items, items_source = resolve_items(rendered_items, known_notebooks, notebook_folder, work_items_query)
    return RunParameters(
        mode=mode,
        items=select_items(items, text_parameter("workers")),
        items_source=items_source,
        common_arguments=dict(common_arguments),
        timeout_seconds=int_parameter("timeout_seconds", timeout_seconds, 0, 7 * 24 * 3600),
        max_retries=int_parameter("max_retries", max_retries, 0, 10),
        retry_backoff_seconds=seconds_parameter("retry_backoff_seconds", retry_backoff_seconds, 0, 3600),
        run_id=text_parameter("run_id"),
    )


# COMMAND ----------

# DBTITLE 1,The run-log table
# Every column, in the order they were added: a run log created by an older version lacks the last ones.
RUN_LOG_COLUMNS = (
    ("notebook", "STRING"),
    ("orchestration_mode", "STRING"),
    ("run_id", "STRING"),
    ("attempt", "INT"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
    ("duration_seconds", "DOUBLE"),
    ("rows_merged", "BIGINT"),
    ("status", "STRING"),
    ("error", "STRING"),
    ("wall_seconds", "DOUBLE"),
    ("recorded_by", "STRING"),
    ("item", "STRING"),
    ("arguments", "STRING"),
)
RUN_LOG_FIRST_VERSION_COLUMNS = 10
RUN_LOG_COMMENT = (
    "Appended by every worker run (recorded_by worker: its own SQL time in duration_seconds) and by the orchestrators for every "
    "dbutils.notebook.run attempt (recorded_by orchestrator: its wall time in wall_seconds, start-up included; item and arguments name the work item)"
)


def add_missing_columns(table, added_columns):
    """Adds to an existing table, in place, the columns a later version of these notebooks declares for it."""
    existing_columns = {row["col_name"] for row in spark.sql(f"DESCRIBE TABLE {table}").collect()}
    missing_columns = [f"{name} {kind}" for name, kind in added_columns if name not in existing_columns]
    if existing_columns and missing_columns:
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS ({', '.join(missing_columns)})")
        log(f"Added {', '.join(missing_columns)} to {table}")


def ensure_run_log(table):
    """Creates the run log if it is missing, and adds to an older one the columns it lacks: setup calls it,
    and so do both orchestrators, so that they also work in a program without the setup notebook."""
    columns = ",\n        ".join(f"{name} {kind}" for name, kind in RUN_LOG_COLUMNS)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} (\n        {columns}\n    ) USING DELTA\n    COMMENT '{RUN_LOG_COMMENT}'")
    add_missing_columns(table, RUN_LOG_COLUMNS[RUN_LOG_FIRST_VERSION_COLUMNS:])


def prepare_run_log(table):
    """ensure_run_log for an orchestrator: a run log it cannot create is reported, and the items still run."""
    try:
        ensure_run_log(table)
    except Exception as failure:
        log(f"Could not create or update the run log {table}: {describe_failure(failure)}")


# COMMAND ----------

# DBTITLE 1,Longest-first dispatch order
RUN_LOG_MODES = ("parallel", "sequential")


def _sql_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_run_log_history(run_log_table, items, runs):
    """Wall times of recent successful attempts of the items' notebooks, per (notebook, arguments, mode).

    One query: for every (notebook, arguments, orchestration mode) of the items' notebooks, its last `runs`
    successful attempts. Only the orchestrators' rows (`recorded_by = 'orchestrator'`) count: their
    `wall_seconds` is what a slot is held for (the `dbutils.notebook.run` call, start-up included), the
    unit of `expected_seconds`. The workers' own rows time their SQL only; the asynchronous dispatcher's
    time whole job runs. Returns a list of {notebook, arguments, mode, wall_seconds, finished_at}, or []
    when the table cannot be read (first run of a new environment): the order then falls back to
    configured estimates, never failing the orchestration.
    """
    notebooks = sorted({item["notebook"] for item in items})
    if not notebooks:
        return []
    names = ", ".join(_sql_string(notebook) for notebook in notebooks)
    modes = ", ".join(f"'{mode}'" for mode in RUN_LOG_MODES)
    query = f"""
        SELECT notebook, arguments, orchestration_mode, wall_seconds, finished_at
        FROM (
            SELECT notebook, arguments, orchestration_mode, wall_seconds, finished_at,
                   ROW_NUMBER() OVER (PARTITION BY notebook, arguments, orchestration_mode ORDER BY finished_at DESC) AS recency
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
        return []
    history = []
    for row in rows:
        values = _row_as_dict(row)
        history.append({
            "notebook": values.get("notebook"),
            "arguments": values.get("arguments"),
            "mode": values.get("orchestration_mode"),
            "wall_seconds": float(values["wall_seconds"]),
            "finished_at": values.get("finished_at"),
        })
    return history


ESTIMATE_SOURCES = (
    "run_log_parallel",
    "run_log_sequential",
    "notebook_run_log_parallel",
    "notebook_run_log_sequential",
    "configured",
)


def _item_estimate(item, history, runs):
    """(seconds, source) for one item, first that has data: its own (notebook, arguments) history in parallel
    then sequential runs, its notebook's history with any arguments (the `runs` most recent), its configured
    estimate; (None, None) when nothing is known."""
    key = canonical_arguments(item.get("arguments"))
    same_notebook = [entry for entry in history if entry["notebook"] == item["notebook"]]
    for mode in RUN_LOG_MODES:
        own = [entry["wall_seconds"] for entry in same_notebook if entry["mode"] == mode and entry["arguments"] == key]
        if own:
            return statistics.median(own), f"run_log_{mode}"
    for mode in RUN_LOG_MODES:
        recent = sorted((entry for entry in same_notebook if entry["mode"] == mode), key=lambda entry: str(entry["finished_at"] or ""), reverse=True)
        if recent:
            return statistics.median(entry["wall_seconds"] for entry in recent[: max(1, int(runs))]), f"notebook_run_log_{mode}"
    if item.get("expected_seconds") is not None:
        return float(item["expected_seconds"]), "configured"
    return None, None


def plan_dispatch(items, history, runs):
    """Order items longest expected first (LPT), and say where each estimate came from.

    An item's estimate is the median wall time of its recent successful attempts with the same notebook and
    arguments in parallel runs (`run_log_parallel`); without those, in sequential runs (`run_log_sequential`:
    no contention for the driver, so often shorter, and labelled as such); then of its notebook's recent
    attempts with any arguments (`notebook_run_log_parallel`, `notebook_run_log_sequential`); else its
    configured `expected_seconds`. Items with no estimate go first, in declared order, because an unknown
    run may be a long one. With no estimate at all the declared order is kept.
    Returns (order, order_source, estimates, estimate_sources), the last two keyed by item name.
    """
    estimates, sources = {}, {}
    for item in items:
        seconds, source = _item_estimate(item, history, runs)
        if source is not None:
            estimates[item["name"]], sources[item["name"]] = seconds, source
    used = [source for source in ESTIMATE_SOURCES if source in sources.values()]
    if not used:
        return list(items), "declared", estimates, sources
    declared_index = {item["name"]: index for index, item in enumerate(items)}
    unknown = [item for item in items if item["name"] not in estimates]
    known = sorted(
        (item for item in items if item["name"] in estimates),
        key=lambda item: (-estimates[item["name"]], declared_index[item["name"]]),
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


def run_attempt(item, parameters, attempt):
    """One `dbutils.notebook.run` of an item, timed from the call to its return: the wall time a slot is held.

    Returns the attempt as a dict; it never raises for a failed or timed-out item.
    """
    arguments = parameters.attempt_arguments(item, attempt)
    log(f"[{item['name']}] attempt {attempt} started")
    started_at, started = utc_now(), time.monotonic()
    record = {"attempt": attempt, "started_at": started_at, "exit_value": None, "error": None, "child_ended": True, "not_retried": None}
    try:
        record["exit_value"] = parse_exit_value(dbutils.notebook.run(item["path"], parameters.timeout_seconds, arguments))
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


def _item_fields(item):
    return {"name": item["name"], "notebook": item["notebook"], "arguments": dict(item.get("arguments", {})), "path": item["path"]}


def item_outcome(item, attempts):
    """An item's outcome from its attempts: the last one decides; wall time is summed over all of them."""
    last = attempts[-1]
    started = datetime.fromisoformat(attempts[0]["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(last["finished_at"].replace("Z", "+00:00"))
    return {
        **_item_fields(item),
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


def skipped_outcome(item, reason):
    return {
        **_item_fields(item),
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
def run_items(dispatch, parameters, slots, in_order=False):
    """Run every item in `dispatch` with at most `slots` `dbutils.notebook.run` calls in flight.

    Each slot is a thread that, whenever it is free, takes the ready attempt of the item earliest in
    `dispatch`. A failed attempt whose child run is known to have ended is retried (up to `max_retries`)
    after an exponential backoff that it waits out in a queue, not in a slot: the slot runs the next
    item meanwhile, so a transient failure costs the pool the failed attempt, not the backoff; once
    due, the retry keeps its item's place in the order. A timed-out attempt is not retried (its child
    run may still be running). With `in_order` (the sequential orchestrator), an item only becomes
    ready once the one before it succeeded, and the first that fails for good marks the rest SKIPPED.
    Items of one notebook with different arguments are distinct: everything is keyed by item name.
    Returns {item name: outcome}.
    """
    state = _DispatchState(dispatch, parameters, in_order)
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="worker") as pool:
        for slot in [pool.submit(state.serve_slot) for _ in range(max(1, min(slots, len(dispatch))))]:
            slot.result()
    return state.outcomes


class _DispatchState:
    """What run_items' slots share, under one condition: attempts ready to run (a heap on the dispatch
    position), retries waiting for their backoff (a heap on the time they are due), attempts running."""

    def __init__(self, dispatch, parameters, in_order):
        self.dispatch, self.parameters, self.in_order = dispatch, parameters, in_order
        self.ready = [(index, 1) for index in range(len(dispatch))][: 1 if in_order else None]
        heapq.heapify(self.ready)
        self.waiting = []
        self.running = 0
        self.attempts = {item["name"]: [] for item in dispatch}
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
        item = self.dispatch[index]
        attempts = self.attempts[item["name"]]
        attempts.append(record)
        if record["status"] == SUCCEEDED:
            self._finish(item, attempts)
            if self.in_order and index + 1 < len(self.dispatch):
                heapq.heappush(self.ready, (index + 1, 1))
            return
        first_line = record["error"].splitlines()[0] if record["error"] else record["status"]
        if attempt <= self.parameters.max_retries:
            if record["child_ended"]:
                delay = backoff_seconds(self.parameters.retry_backoff_seconds, attempt)
                log(f"[{item['name']}] attempt {attempt} {record['status']}: {first_line}; retrying in {delay:g}s")
                heapq.heappush(self.waiting, (time.monotonic() + delay, index, attempt + 1))
                return
            log(f"[{item['name']}] attempt {attempt} {record['status']}: {first_line}; not retried: {record['not_retried']}")
        else:
            record["not_retried"] = None  # retries used up: nothing more to say
        self._finish(item, attempts)
        if self.in_order:
            for later in self.dispatch[index + 1:]:
                self.outcomes[later["name"]] = skipped_outcome(later, f"not run: {item['name']} {record['status']}")

    def _finish(self, item, attempts):
        outcome = item_outcome(item, attempts)
        log(f"[{item['name']}] {outcome['status']} after {outcome['attempts']} attempt(s), {outcome['wall_seconds']:.1f}s in a slot")
        self.outcomes[item["name"]] = outcome


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
    ("item", ":item_{i}"),
    ("arguments", ":arguments_{i}"),
)


def run_log_rows(parameters, outcomes):
    """One row per dbutils.notebook.run attempt: the item (its notebook, name and canonical arguments), its
    wall time and, for the attempt that succeeded, the notebook's own SQL time and merged rows from its
    exit value (`duration_seconds`, `rows_merged`)."""
    rows = []
    for item in parameters.items:
        outcome = outcomes[item["name"]]
        for attempt in outcome["attempt_history"]:
            exit_value = outcome["exit_value"] if attempt["status"] == SUCCEEDED and isinstance(outcome["exit_value"], dict) else {}
            rows.append({
                "notebook": item["notebook"],
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
                "item": item["name"],
                "arguments": canonical_arguments(item.get("arguments")),
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
    """The run's JSON summary; items are listed in declared order whatever order they ran in, under the key
    `workers` (the jobs CLI reads it)."""
    ordered = [outcomes[item["name"]] for item in parameters.items]
    summary = {
        "mode": parameters.mode,
        "items_source": parameters.items_source,
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
    rows = [("item", "status", "attempts", "in slot", "detail")]
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
    lines.append(f"{summary['mode']} run {summary['status']}: {len(summary['workers']) - failed} of {len(summary['workers'])} items succeeded in {summary['duration_seconds']:.1f}s")
    return "\n".join(lines)


def finish(summary):
    """Print the summary table, then fail the job run if any item did not succeed, or exit with the JSON summary."""
    log(format_summary_table(summary))
    summary_json = json.dumps(summary)
    if summary["status"] != SUCCEEDED:
        failed = [f"{o['name']} ({o['status']})" for o in summary["workers"] if o["status"] != SUCCEEDED]
        raise RuntimeError(f"{len(failed)} of {len(summary['workers'])} items did not succeed: {', '.join(failed)}\nSummary: {summary_json}")
    dbutils.notebook.exit(summary_json)
