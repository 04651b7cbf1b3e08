"""A fake of the Databricks Jobs API 2.2, served over HTTP on 127.0.0.1, for the dispatcher's tests.

Modelled on the Jobs API reference (https://docs.databricks.com/api/azure/workspace/jobs):
- POST /api/2.2/jobs/run-now {job_id, job_parameters, idempotency_token}: a token (at most 64
  characters) that was used before returns the run it started instead of a new one; a token whose run
  was deleted is an error. A job that does not exist is a 400 INVALID_PARAMETER_VALUE (as the jobs
  CLI's fake, test/fixtures/jobs/server.ts, answers). This fake also refuses job parameters the job
  does not define, which the reference does not spell out: the dispatcher checks them before run-now.
- GET /api/2.2/jobs/runs/get?run_id=: the run with `status` {state, termination_details {code, type,
  message}, queue_details} and the deprecated `state` {life_cycle_state, result_state, state_message},
  and its `tasks`; a run that does not exist is 404 RESOURCE_DOES_NOT_EXIST "Run <id> does not exist.".
- GET /api/2.2/jobs/runs/list?active_only=&expand_tasks=&limit=&page_token=: newest first, `limit`
  1..25 (default 20), `has_more` and `next_page_token`; `active_only` keeps QUEUED, PENDING, RUNNING
  and TERMINATING runs; tasks only with `expand_tasks=true`.
- POST /api/2.2/jobs/runs/cancel {run_id}: the run ends TERMINATED, code USER_CANCELED.
- Errors are {"error_code", "message"}; 429 REQUEST_LIMIT_EXCEEDED comes with Retry-After.
Runs change state only when a test says so (set_run), so every test decides what the dispatcher sees.
"""

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIVE = {"QUEUED", "PENDING", "RUNNING", "TERMINATING"}
# (life_cycle_state, result_state) -> termination_details (code, type) of the 2.2 `status`.
TERMINATION = {
    ("TERMINATED", "SUCCESS"): ("SUCCESS", "SUCCESS"),
    ("TERMINATED", "FAILED"): ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    ("TERMINATED", "TIMEDOUT"): ("CANCELED", "SUCCESS"),
    ("TERMINATED", "CANCELED"): ("USER_CANCELED", "SUCCESS"),
    ("INTERNAL_ERROR", None): ("INTERNAL_ERROR", "INTERNAL_ERROR"),
    ("SKIPPED", None): ("SKIPPED", "SUCCESS"),
}


class ApiFault(Exception):
    def __init__(self, status, error_code, message, headers=None):
        super().__init__(message)
        self.status, self.error_code, self.message, self.headers = status, error_code, message, headers or {}


class JobsModel:
    """The workspace as the Jobs API shows it: jobs, runs and idempotency tokens."""

    def __init__(self):
        self.jobs = {}
        self.runs = {}
        self.tokens = {}
        self.next_run_id = 1000
        self.time_ms = 1_764_000_000_000
        self.requests = []
        self.faults = []  # [(method, path prefix, predicate(body) or None, ApiFault, times)]
        self.lock = threading.RLock()
        self.before_run_now = None

    # --- what tests set up ---------------------------------------------------------------------
    def add_job(self, job_id, task_key="main", cluster_id=None, parameters=()):
        self.jobs[job_id] = {"job_id": job_id, "task_key": task_key, "cluster_id": cluster_id, "parameters": set(parameters)}

    def start_run(self, job_id, life_cycle="RUNNING", run_type="JOB_RUN", tasks=None, cluster_id=None, parameters=None):
        """A run the dispatcher did not start: an orchestrator, a notebook run it started, a run by hand."""
        with self.lock:
            run_id = self.next_run_id
            self.next_run_id += 1
            job = self.jobs.get(job_id, {})
            task_specs = tasks if tasks is not None else [(job.get("task_key", "main"), cluster_id or job.get("cluster_id"), life_cycle)]
            self.runs[run_id] = {
                "run_id": run_id, "job_id": job_id, "run_type": run_type, "start_time": self.time_ms,
                "job_parameters": [{"name": k, "value": v} for k, v in (parameters or {}).items()],
                "tasks": [{"run_id": run_id * 10 + i, "task_key": key, "existing_cluster_id": cluster} for i, (key, cluster, _) in enumerate(task_specs)],
            }
            for task, (_, _, task_state) in zip(self.runs[run_id]["tasks"], task_specs):
                task.update(self._states(task_state, "SUCCESS" if task_state == "TERMINATED" else None, ""))
            self.runs[run_id].update(self._states(life_cycle, None, ""))
            return run_id

    def set_run(self, run_id, life_cycle, result=None, message=""):
        with self.lock:
            run = self.runs[run_id]
            run.update(self._states(life_cycle, result, message))
            for task in run["tasks"]:
                task.update(self._states(life_cycle, result, message))
            if life_cycle not in ACTIVE:
                run["end_time"] = self.time_ms + 90_000
                run["run_duration"] = 90_000

    def without_status(self, run_id):
        """A payload as older API versions give it: `state` only."""
        self.runs[run_id]["_legacy"] = True

    def delete_run(self, run_id):
        with self.lock:
            del self.runs[run_id]

    def fail(self, method, path, status, error_code, message, times=1, when=None, headers=None):
        self.faults.append([method, path, when, ApiFault(status, error_code, message, headers), times])

    def active(self, job_id=None):
        return [r for r in self.runs.values() if r["state"]["life_cycle_state"] in ACTIVE and (job_id is None or r["job_id"] == job_id)]

    def calls(self, method, path):
        return [body for m, p, body in self.requests if m == method and p == path]

    # --- the API ---------------------------------------------------------------------------------
    @staticmethod
    def _states(life_cycle, result, message):
        state = {"life_cycle_state": life_cycle, "state_message": message}
        if result:
            state["result_state"] = result
        if life_cycle in ACTIVE or life_cycle in ("BLOCKED", "WAITING_FOR_RETRY"):
            status = {"state": life_cycle}
            if life_cycle == "QUEUED":
                status["queue_details"] = {"code": "ACTIVE_RUNS_LIMIT_REACHED", "message": "Waiting for a slot."}
        else:
            code, kind = TERMINATION[(life_cycle, result)]
            status = {"state": "TERMINATED", "termination_details": {"code": code, "type": kind, "message": message}}
        return {"state": state, "status": status}

    def handle(self, method, path, query, body):
        if method == "POST" and path == "jobs/run-now" and self.before_run_now:
            # Outside the lock: the hook may itself call the API (another pass overlapping this one).
            hook, self.before_run_now = self.before_run_now, None
            hook()
        with self.lock:
            self.requests.append((method, path, body if body is not None else query))
            for fault in self.faults:
                f_method, f_path, when, error, times = fault
                if times > 0 and f_method == method and path.startswith(f_path) and (when is None or when(body or query)):
                    fault[4] -= 1
                    raise error
            if method == "POST" and path == "jobs/run-now":
                return self._run_now(body)
            if method == "GET" and path == "jobs/runs/get":
                return self._public(self._run(query.get("run_id")), tasks=True)
            if method == "GET" and path == "jobs/runs/list":
                return self._list(query)
            if method == "POST" and path == "jobs/runs/cancel":
                run = self._run(body.get("run_id"))
                if run["state"]["life_cycle_state"] in ACTIVE:
                    self.set_run(run["run_id"], "TERMINATED", "CANCELED", "Run cancelled.")
                return {}
            raise ApiFault(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} /api/2.2/{path}'")

    def _run(self, run_id):
        try:
            return self.runs[int(run_id)]
        except (KeyError, TypeError, ValueError):
            raise ApiFault(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.") from None

    def _run_now(self, body):
        token = body.get("idempotency_token")
        if token is not None and len(token) > 64:
            raise ApiFault(400, "INVALID_PARAMETER_VALUE", "idempotency_token must be at most 64 characters.")
        if token in self.tokens:
            run_id = self.tokens[token]
            if run_id not in self.runs:
                raise ApiFault(400, "INVALID_PARAMETER_VALUE", f"The run with idempotency token {token} was deleted.")
            return {"run_id": run_id, "number_in_job": run_id}
        job = self.jobs.get(body.get("job_id"))
        if job is None:
            raise ApiFault(400, "INVALID_PARAMETER_VALUE", f"Job {body.get('job_id')} does not exist.")
        undefined = sorted(set(body.get("job_parameters") or {}) - job["parameters"])
        if undefined:
            raise ApiFault(400, "INVALID_PARAMETER_VALUE", f"Job parameters {', '.join(undefined)} are not defined in job {job['job_id']}.")
        run_id = self.start_run(job["job_id"], "QUEUED", parameters=body.get("job_parameters"))
        if token is not None:
            self.tokens[token] = run_id
        return {"run_id": run_id, "number_in_job": run_id}

    def _list(self, query):
        limit = int(query.get("limit", 20))
        if not 1 <= limit <= 25:
            raise ApiFault(400, "INVALID_PARAMETER_VALUE", f"Limit must be between 1 and 25, got {limit}.")
        runs = sorted(self.runs.values(), key=lambda r: -r["run_id"])
        if query.get("active_only") == "true":
            runs = [r for r in runs if r["state"]["life_cycle_state"] in ACTIVE]
        offset = int(base64.b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        page = runs[offset: offset + limit]
        answer = {"runs": [self._public(r, tasks=query.get("expand_tasks") == "true") for r in page], "has_more": offset + limit < len(runs)}
        if answer["has_more"]:
            answer["next_page_token"] = base64.b64encode(str(offset + limit).encode()).decode()
        return answer

    @staticmethod
    def _public(run, tasks):
        answer = {k: json.loads(json.dumps(v)) for k, v in run.items() if not k.startswith("_") and (tasks or k != "tasks")}
        if run.get("_legacy"):
            answer.pop("status", None)
            for task in answer.get("tasks", []):
                task.pop("status", None)
        return answer


class FakeJobsApi:
    """JobsModel behind an HTTP server on 127.0.0.1; `url` is the workspace URL to give the client."""

    def __init__(self):
        self.model = JobsModel()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, method):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if self.headers.get("Authorization") != "Bearer test-token":
                    return self._send(401, {"error_code": "UNAUTHENTICATED", "message": "Credential was not sent or was of an unsupported type for this API."})
                try:
                    self._send(200, fake.model.handle(method, url.path.replace("/api/2.2/", "", 1), query, body))
                except ApiFault as fault:
                    self._send(fault.status, {"error_code": fault.error_code, "message": fault.message}, fault.headers)

            def _send(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reset(self):
        self.model = JobsModel()
        return self.model

    def close(self):
        self.server.shutdown()
        self.server.server_close()
