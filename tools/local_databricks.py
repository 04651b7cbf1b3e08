#!/usr/bin/env python3
"""Run a Databricks notebook source file locally, against fakes of `dbutils` and `spark`.

Reads a scenario (JSON) on standard input or from --scenario FILE, runs the notebook, and prints a JSON
result on standard output. Used by the tests and by `npm run simulate` / `npm run bench`.

Scenario:
{
  "notebook": "build/notebooks/orchestrators/parallel.py",
  "widgets": {"max_workers": "2"},               # job parameters / notebook arguments
  "time_scale": 0.001,                            # real seconds slept per simulated second
  "workers": {                                    # child notebooks, by work item (the run's `work_item`
    "customer_totals": {"attempts": [{"seconds": 60, "outcome": "fail"},   # argument), workspace path or last path segment
                                      {"seconds": 60, "exit_value": "{\"rows_merged\": 3}"}]}
  },
  "sql": [{"match": "FROM .*etl_run_log", "rows": [{"notebook": "daily_sales", "duration_seconds": 42.0}]},
          {"match": "FROM .*control", "rows": [{"notebook": "workers/x", "arguments": {"table": "a"}}], "structs": ["arguments"]},
          {"match": "^\\s*MERGE", "rows": [{"num_affected_rows": 7}]},
          {"match": "FROM .*missing", "error": "[TABLE_OR_VIEW_NOT_FOUND] ..."}],
  "sql_engine": "http://127.0.0.1:8123/sql",      # optional: statements no "sql" entry answers run there
  "secrets": {"my-scope": {"db-password": "..."}},
  "notebook_context": {"api_url": "https://adb-1.2.azuredatabricks.net", "api_token": "..."}
}
A child run's script is looked up by its `work_item` argument (the item's name, which the orchestrators pass),
then by its path, then by the path's last segment, so items of one notebook with different arguments can be
scripted apart; attempts are counted per (path, work_item). A worker's last attempt repeats for any further attempts; an attempt's outcome is "success" (default),
"fail" (the child run FAILED), "canceled", "timeout", "throttled" (the workspace refused to start the run:
REQUEST_LIMIT_EXCEEDED) or "unreachable" (the driver could not reach the control plane), each raised the
way dbutils.notebook.run raises it (see Py4JJavaError). An attempt longer than the run's timeout_seconds
times out, as on Databricks.
Calls to workers the scenario does not name fail with "Notebook not found", as on Databricks.
A "sql" answer's rows are Spark Rows; an object value in them is a MAP (a dict), or a STRUCT (a Row) when its
column is listed in the answer's "structs".

Result: {"status": "exited"|"raised"|"completed", "exit_value", "error", "error_type", "output",
         "calls": [{"path", "name", "work_item", "timeout_seconds", "arguments", "attempt", "outcome", "start", "end", "thread"}],
         "max_in_flight", "elapsed_seconds", "sql": [{"query", "args"}], "widgets_defined": {...}}
Times in "calls" are simulated seconds since the notebook started (real seconds / time_scale).
"""

import argparse
import contextlib
import io
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.request

NOTEBOOK_HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "# COMMAND ----------"
MAGIC_PREFIX = "# MAGIC"


class NotebookExit(BaseException):
    """Raised by dbutils.notebook.exit to stop the notebook, carrying its exit value."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class JavaThrowable:
    """A Java exception as py4j hands it to Python (a JavaObject): getClass().getName(), getMessage(),
    getCause() (None for a Java null) and toString(), which is "<class name>: <message>"."""

    def __init__(self, class_name, message, cause=None):
        self._class_name, self._message, self._cause = class_name, message, cause

    def getClass(self):
        return _JavaClass(self._class_name)

    def getMessage(self):
        return self._message

    def getCause(self):
        return self._cause

    def toString(self):
        return f"{self._class_name}: {self._message}" if self._message is not None else self._class_name


class _JavaClass:
    def __init__(self, name):
        self._name = name

    def getName(self):
        return self._name


class Py4JJavaError(Exception):
    """What dbutils.notebook.run raises in Python when the call fails: py4j's Py4JJavaError, whose
    `java_exception` is the Java exception thrown in the driver (py4j.protocol.Py4JJavaError), and whose text
    is py4j's "An error occurred while calling oNN._run." followed by the Java exception and its stack trace.

    On Databricks the Java exception is a com.databricks.WorkflowException wrapping the cause, as in these
    public reports: "com.databricks.WorkflowException: com.databricks.NotebookExecutionException: FAILED"
    (github.com/maxpumperla/elephas/issues/201), "...NotebookExecutionException: FAILED: Workload failed, see
    run output for details" (github.com/databricks-industry-solutions/security-analysis-tool/issues/127),
    "...WorkflowException: com.databricks.common.client.DatabricksServiceHttpClientException:
    REQUEST_LIMIT_EXCEEDED: There are already 1 active runs (limit: 1)", and, from Azure Databricks'
    troubleshooting guide, "com.databricks.WorkflowException: org.apache.http.conn.ConnectTimeoutException".
    The NotebookExecutionException's message starts with the child run's result state (FAILED, CANCELED).
    For a timeout no public trace was found: the fake raises TIMEDOUT, the Jobs API's result state for a
    run stopped at its timeout, at the moment the timeout passes (Databricks documents only that run
    "throws an exception if it doesn't finish within the specified time"); the orchestrator also treats
    any exception without a result state that arrives once the timeout has passed as a timeout.
    """

    def __init__(self, java_exception):
        self.java_exception = java_exception
        super().__init__(
            f"An error occurred while calling o{400 + id(java_exception) % 600}._run.\n: {java_exception.toString()}\n"
            "\tat com.databricks.workflow.WorkflowDriver.run(WorkflowDriver.scala:99)\n"
            "\tat com.databricks.dbutils_v1.impl.NotebookUtilsImpl.run(NotebookUtilsImpl.scala:130)"
        )


def workflow_exception(cause_class, cause_message):
    """The Py4JJavaError for a com.databricks.WorkflowException caused by the given Java exception."""
    cause = JavaThrowable(cause_class, cause_message)
    return Py4JJavaError(JavaThrowable("com.databricks.WorkflowException", cause.toString(), cause))


NOTEBOOK_EXECUTION_EXCEPTION = "com.databricks.NotebookExecutionException"
# How each scripted outcome fails, as the Java exception dbutils.notebook.run raises (see Py4JJavaError).
FAILURES = {
    "fail": (NOTEBOOK_EXECUTION_EXCEPTION, "FAILED: Workload failed, see run output for details"),
    "canceled": (NOTEBOOK_EXECUTION_EXCEPTION, "CANCELED"),
    "timeout": (NOTEBOOK_EXECUTION_EXCEPTION, "TIMEDOUT"),
    "throttled": (
        "com.databricks.common.client.DatabricksServiceHttpClientException",
        "REQUEST_LIMIT_EXCEEDED: The number of concurrently running tasks in the workspace has reached the limit",
    ),
    "unreachable": ("org.apache.http.conn.ConnectTimeoutException", "Connect to westeurope.azuredatabricks.net:443 failed: connect timed out"),
}


class Row(dict):
    """A Spark Row: readable as row["column"] and as row.column, and as a dict with asDict()."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def asDict(self, recursive=False):
        return {key: value.asDict(True) if recursive and isinstance(value, Row) else value for key, value in self.items()}


class FakeDataFrame:
    def __init__(self, rows, structs=()):
        self._rows = [Row({key: Row(value) if key in structs and isinstance(value, dict) else value for key, value in row.items()}) for row in rows]

    def collect(self):
        return list(self._rows)

    def first(self):
        return self._rows[0] if self._rows else None

    def count(self):
        return len(self._rows)


class FakeSpark:
    """Answers spark.sql with the first scenario entry whose regex matches the query; else, with an
    `sql_engine` URL, with what that engine answers (the tests run DuckDB behind it); else no rows."""

    def __init__(self, answers, engine_url=None):
        self._answers = [(re.compile(a["match"], re.IGNORECASE | re.DOTALL | re.MULTILINE), a) for a in answers]
        self._engine_url = engine_url
        self.statements = []
        self._lock = threading.Lock()

    def sql(self, query, args=None):
        with self._lock:
            self.statements.append({"query": query, "args": args})
        for pattern, answer in self._answers:
            if pattern.search(query):
                if "error" in answer:
                    raise Exception(answer["error"])
                return FakeDataFrame(answer.get("rows", []), answer.get("structs", ()))
        if self._engine_url:
            return FakeDataFrame(self._run_on_engine(query, args))
        return FakeDataFrame([])

    def _run_on_engine(self, query, args):
        """POSTs {query, args} to the engine; it answers {"rows": [...]} or {"error": "..."}."""
        request = urllib.request.Request(
            self._engine_url, data=json.dumps({"query": query, "args": args}).encode("utf-8"), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read().decode("utf-8"))
        if "error" in answer:
            raise Exception(answer["error"])
        return answer["rows"]


class Widgets:
    def __init__(self, values):
        self._values = {str(k): str(v) for k, v in (values or {}).items()}
        self.defined = {}

    def text(self, name, default_value, label=None):
        self.defined.setdefault(name, default_value)

    def get(self, name):
        if name in self._values:
            return self._values[name]
        if name in self.defined:
            return self.defined[name]
        raise Exception(f"InputWidgetNotDefined: No input widget named {name} is defined")


class SecretMetadata:
    def __init__(self, key):
        self.key = key


class Secrets:
    def __init__(self, scopes):
        self._scopes = scopes or {}

    def _scope(self, scope):
        if scope not in self._scopes:
            raise Exception(f"Secret does not exist with scope: {scope}")
        return self._scopes[scope]

    def get(self, scope, key):
        values = self._scope(scope)
        if key not in values:
            raise Exception(f"Secret does not exist with scope: {scope} and key: {key}")
        return values[key]

    def list(self, scope):
        return [SecretMetadata(key) for key in self._scope(scope)]


class ChildRuns:
    """Answers dbutils.notebook.run from the scenario's scripted workers, sleeping for their durations."""

    def __init__(self, workers, time_scale, clock_start):
        self._workers = workers or {}
        for name, script in self._workers.items():
            for number, attempt in enumerate(script.get("attempts") or [], start=1):
                if attempt.get("outcome", "success") not in ("success", *FAILURES):
                    raise ValueError(f"scenario: worker {name} attempt {number} has outcome {attempt['outcome']!r}; expected success, {', '.join(FAILURES)}")
        self._scale = time_scale
        self._start = clock_start
        self._lock = threading.Lock()
        self._attempts = {}
        self._in_flight = 0
        self.max_in_flight = 0
        self.calls = []

    def _script(self, path, work_item):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        for key in (work_item, path, name):
            if key and key in self._workers:
                return name, self._workers[key]
        return name, None

    def _now(self):
        return (time.monotonic() - self._start) / self._scale

    def run(self, path, timeout_seconds, arguments=None):
        if not isinstance(timeout_seconds, int) or timeout_seconds < 0:
            raise TypeError(f"timeout_seconds must be a non-negative int, got {timeout_seconds!r}")
        arguments = arguments or {}
        bad = {k: v for k, v in arguments.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise TypeError(f"dbutils.notebook.run arguments must be strings, got {bad!r}")
        work_item = arguments.get("work_item")
        name, script = self._script(path, work_item)
        with self._lock:
            attempt = self._attempts.get((path, work_item), 0)
            self._attempts[(path, work_item)] = attempt + 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        call = {
            "path": path,
            "name": name,
            "work_item": work_item,
            "timeout_seconds": timeout_seconds,
            "arguments": dict(arguments),
            "attempt": attempt + 1,
            "thread": threading.current_thread().name,
            "start": self._now(),
        }
        try:
            if script is None:
                call["outcome"] = "not_found"
                raise Py4JJavaError(JavaThrowable("com.databricks.WorkflowException", f"Notebook not found: {path}"))
            attempts = script.get("attempts") or [{}]
            behaviour = attempts[min(attempt, len(attempts) - 1)]
            seconds = float(behaviour.get("seconds", 0))
            outcome = behaviour.get("outcome", "success")
            if timeout_seconds > 0 and seconds > timeout_seconds:
                seconds, outcome = timeout_seconds, "timeout"
            time.sleep(seconds * self._scale)
            call["outcome"] = outcome
            if outcome in FAILURES:
                raise workflow_exception(*FAILURES[outcome])
            return behaviour.get("exit_value", json.dumps({"worker": name, "status": "SUCCEEDED"}))
        finally:
            call["end"] = self._now()
            with self._lock:
                self._in_flight -= 1
                self.calls.append(call)


class _Option:
    """A Scala Option as py4j hands it to Python: .get() gives the value."""

    def __init__(self, value):
        self._value = value

    def get(self):
        if self._value is None:
            raise Exception("java.util.NoSuchElementException: None.get")
        return self._value


class _NotebookContext:
    def __init__(self, context):
        self._context = context or {}

    def apiUrl(self):
        return _Option(self._context.get("api_url"))

    def apiToken(self):
        return _Option(self._context.get("api_token"))


class _EntryPoint:
    """dbutils.notebook.entry_point, as far as getting the notebook's context goes."""

    def __init__(self, context):
        self._context = _NotebookContext(context)

    def getDbutils(self):
        return self

    def notebook(self):
        return self

    def getContext(self):
        return self._context


class NotebookApi:
    def __init__(self, child_runs, context=None):
        self._child_runs = child_runs
        self.entry_point = _EntryPoint(context)

    def run(self, path, timeout_seconds, arguments=None):
        return self._child_runs.run(path, timeout_seconds, arguments)

    def exit(self, value):
        raise NotebookExit(str(value))


class FakeDbutils:
    def __init__(self, widgets, child_runs, secrets, context=None):
        self.widgets = widgets
        self.notebook = NotebookApi(child_runs, context)
        self.secrets = secrets


def notebook_cells(path):
    """(first line number, lines) of each cell of a Databricks notebook source file."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if not lines or lines[0].strip() != NOTEBOOK_HEADER:
        raise ValueError(f"{path} is not a Databricks notebook source file: its first line must be '{NOTEBOOK_HEADER}'")
    cells, start, current = [], 2, []
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == CELL_SEPARATOR:
            cells.append((start, current))
            start, current = number + 1, []
        else:
            current.append(line)
    cells.append((start, current))
    return cells


def run_notebook_file(path, namespace):
    """Execute a notebook's cells in `namespace`, following `%run` into other notebooks."""
    for first_line, lines in notebook_cells(path):
        code = [line for line in lines if line.strip()]
        if not code:
            continue
        if all(line.startswith(MAGIC_PREFIX) for line in code):
            magic = [line[len(MAGIC_PREFIX):].lstrip(" ") for line in code]
            command = magic[0].split()
            if command[0] == "%md":
                continue
            if command[0] == "%run" and len(command) == 2:
                target = os.path.normpath(os.path.join(os.path.dirname(path), command[1] + ".py"))
                run_notebook_file(target, namespace)
                continue
            raise ValueError(f"{path}:{first_line}: magic {command[0]} is not supported locally")
        source = "\n" * (first_line - 1) + "\n".join(lines)
        exec(compile(source, path, "exec"), namespace)


def run_scenario(scenario):
    scale = float(scenario.get("time_scale", 1.0))
    if scale <= 0:
        raise ValueError(f"time_scale must be positive, got {scale}")
    started = time.monotonic()
    child_runs = ChildRuns(scenario.get("workers"), scale, started)
    widgets = Widgets(scenario.get("widgets"))
    spark = FakeSpark(scenario.get("sql", []), scenario.get("sql_engine"))
    namespace = {
        "__name__": "__main__",
        "dbutils": FakeDbutils(widgets, child_runs, Secrets(scenario.get("secrets")), scenario.get("notebook_context")),
        "spark": spark,
    }
    result = {"status": "completed", "exit_value": None, "error": None, "error_type": None}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        try:
            run_notebook_file(scenario["notebook"], namespace)
        except NotebookExit as exit_:
            result.update(status="exited", exit_value=exit_.value)
        except Exception as error:
            result.update(status="raised", error=str(error), error_type=type(error).__name__, traceback=traceback.format_exc())
    result.update(
        output=output.getvalue(),
        calls=sorted(child_runs.calls, key=lambda call: (call["start"], call["name"], call["work_item"] or "")),
        max_in_flight=child_runs.max_in_flight,
        elapsed_seconds=(time.monotonic() - started) / scale,
        sql=spark.statements,
        widgets_defined=widgets.defined,
    )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", help="scenario JSON file (default: standard input)")
    options = parser.parse_args()
    text = open(options.scenario, encoding="utf-8").read() if options.scenario else sys.stdin.read()
    try:
        scenario = json.loads(text)
    except ValueError as error:
        print(f"local_databricks: the scenario is not JSON: {error}", file=sys.stderr)
        return 2
    json.dump(run_scenario(scenario), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
