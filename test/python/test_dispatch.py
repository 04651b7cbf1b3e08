"""The asynchronous fan-out's dispatcher (notebooks/lib/dispatch.py), run locally: the real Jobs API
client against a fake Jobs API on 127.0.0.1 (fake_jobs_api.py, payloads as in the API reference) and
an in-memory state table and lease with the same conditional updates as the Delta MERGEs.
Run with: python3 -m unittest discover -s test/python"""

import os
import sys
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_jobs_api import FakeJobsApi  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISPATCH = {}
with open(os.path.join(ROOT, "notebooks", "lib", "dispatch.py"), encoding="utf-8") as source:
    exec(compile(source.read(), "notebooks/lib/dispatch.py", "exec"), DISPATCH)

run_pass = DISPATCH["run_pass"]
run_outcome = DISPATCH["run_outcome"]
active_usage = DISPATCH["active_usage"]
JobsApiClient = DISPATCH["JobsApiClient"]
JobsApiError = DISPATCH["JobsApiError"]
DeltaStateStore = DISPATCH["DeltaStateStore"]
DeltaLease = DISPATCH["DeltaLease"]
NOW = DISPATCH["NOW"]

CLUSTER = "0101-000000-shared"
WORKER_PARAMETERS = ["catalog", "schema", "input_table", "run_log_table"]
WORKER_JOBS = {name: {"job_id": 70 + i, "notebook": f"workers/{name}", "parameters": WORKER_PARAMETERS}
               for i, name in enumerate(["customer_totals", "daily_sales", "order_status", "product_sales"])}
# A team's notebook whose items ingest one table each: one worker job with the items' argument names.
INGEST_JOB = {"job_id": 80, "notebook": "ingest/ingest_table", "parameters": WORKER_PARAMETERS + ["mode", "table"]}
DISPATCHER_SET = ["entry_key", "attempt", "work_item"]
DISPATCHER_JOB, SEQUENTIAL_JOB, PARALLEL_JOB = 60, 61, 62
T0 = 1_764_000_000.0


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def iso(self):
        return datetime.fromtimestamp(self.now, timezone.utc).isoformat()


class InMemoryStateStore:
    """The state table in memory, with the same conditional update as DeltaStateStore's MERGE."""

    def __init__(self, clock, entries=()):
        self.clock, self.rows, self.fail_apply_on = clock, {}, None
        for key, worker in entries:
            self.insert(key, worker)

    def insert(self, key, worker, parameters="{}"):
        """What a producer does: INSERT a PENDING entry (a re-inserted key starts afresh)."""
        self.rows[key] = {"entry_key": key, "worker": worker, "parameters": parameters, "status": "PENDING", "run_id": None,
                          "attempts": 0, "created_at": f"{len(self.rows):04d}", "last_error": None, "submission_token": None, "submitted_at": None}

    def read_rows(self, max_attempts):
        return [dict(row) for row in self.rows.values()
                if row["status"] != "DONE" and not (row["status"] in ("FAILED", "TIMED_OUT") and row["attempts"] >= max_attempts)]

    def apply(self, updates):
        if self.fail_apply_on and any(self.fail_apply_on(update["changes"]) for update in updates):
            raise RuntimeError("cluster lost")
        applied = set()
        for update in updates:
            row = self.rows.get(update["entry_key"])
            if row is None or row["status"] != update["expected_status"] or row["attempts"] != update["expected_attempts"]:
                continue
            row.update({column: self.clock.iso() if value == NOW else value for column, value in update["changes"].items()})
            applied.add(update["entry_key"])
        return applied

    def row(self, key):
        return self.rows[key]


class InMemoryLease:
    """The lease row, acquired only when free, expired or already held by the same holder (as DeltaLease's MERGE)."""

    def __init__(self, table, clock, holder, seconds=600):
        self.table, self.clock, self.holder, self.seconds, self.problem = table, clock, holder, seconds, None

    def acquire(self):
        row = self.table.get("dispatcher")
        if row and row["expires_at"] >= self.clock() and row["holder"] != self.holder:
            self.problem = f"held by {row['holder']} until {row['expires_at']}"
            return False
        self.table["dispatcher"] = {"holder": self.holder, "expires_at": self.clock() + self.seconds}
        return True

    def release(self):
        row = self.table.get("dispatcher")
        if row and row["holder"] == self.holder:
            row["expires_at"] = self.clock()


def settings(**overrides):
    return {"worker_jobs": {**WORKER_JOBS, "ingest_table": INGEST_JOB}, "cap": 10, "max_attempts": 3, "deadline_seconds": 3600, "cluster_id": CLUSTER,
            "context_limit": 145, "workspace_task_run_limit": 1000, **overrides}


def entries(count, worker="daily_sales"):
    return [(f"e{i:02d}", worker) for i in range(count)]


class DispatcherTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeJobsApi()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.jobs = self.fake.reset()
        for name, job in WORKER_JOBS.items():
            self.jobs.add_job(job["job_id"], task_key=name, cluster_id=CLUSTER, parameters=job["parameters"] + DISPATCHER_SET)
        self.jobs.add_job(INGEST_JOB["job_id"], task_key="ingest_table", cluster_id=CLUSTER, parameters=INGEST_JOB["parameters"] + DISPATCHER_SET)
        self.jobs.add_job(DISPATCHER_JOB, task_key="dispatch", cluster_id=CLUSTER)
        self.clock = Clock()
        self.lease_table = {}
        self.api = JobsApiClient(self.fake.url, "test-token", retries=1, sleep=lambda seconds: None)
        self.tokens = (f"token-{i:03d}" for i in range(1000))

    def store(self, count=0, worker="daily_sales"):
        return InMemoryStateStore(self.clock, entries(count, worker))

    def dispatch(self, store, holder="pass", log_runs=None, **overrides):
        lease = InMemoryLease(self.lease_table, self.clock, holder)
        return run_pass(store, self.api, lease, settings(**overrides), log_runs=log_runs, log=lambda message: None,
                        clock=self.clock, new_token=lambda: next(self.tokens))


class RunStatusIsReadFromTheApi(DispatcherTest):
    def test_the_2_2_status_decides_with_the_deprecated_state_as_fallback(self):
        cases = [
            ("TERMINATED", "SUCCESS", ("DONE", None)),
            ("TERMINATED", "FAILED", ("FAILED", "RUN_EXECUTION_ERROR (CLIENT_ERROR) Task worker failed")),
            ("TERMINATED", "TIMEDOUT", ("FAILED", "CANCELED (SUCCESS) Task worker failed")),
            ("TERMINATED", "CANCELED", ("FAILED", "USER_CANCELED (SUCCESS) Task worker failed")),
            ("INTERNAL_ERROR", None, ("FAILED", "INTERNAL_ERROR (INTERNAL_ERROR) Task worker failed")),
            ("SKIPPED", None, ("FAILED", "SKIPPED (SUCCESS) Task worker failed")),
        ]
        legacy = {"SUCCESS": ("DONE", None)}
        for life_cycle, result, expected in cases:
            with self.subTest(life_cycle=life_cycle, result=result):
                run_id = self.jobs.start_run(71)
                self.jobs.set_run(run_id, life_cycle, result, "Task worker failed")
                self.assertEqual(run_outcome(self.api.get_run(run_id)), expected)
                self.jobs.without_status(run_id)
                payload = self.api.get_run(run_id)
                self.assertNotIn("status", payload)
                text = " ".join(part for part in (life_cycle, result, "Task worker failed") if part)
                self.assertEqual(run_outcome(payload), legacy.get(result, ("FAILED", text)))
        for life_cycle in ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"):
            with self.subTest(life_cycle=life_cycle):
                self.assertIsNone(run_outcome(self.api.get_run(self.jobs.start_run(71, life_cycle))))

    def test_a_finished_run_marks_its_entry_and_appends_to_the_run_log(self):
        store = self.store(3)
        self.dispatch(store)
        first, second, third = (store.row(k)["run_id"] for k in ("e00", "e01", "e02"))
        self.jobs.set_run(first, "TERMINATED", "SUCCESS")
        self.jobs.set_run(second, "TERMINATED", "FAILED", "Task worker failed")
        self.jobs.set_run(third, "RUNNING")
        logged = []
        report = self.dispatch(store, log_runs=lambda ended: logged.append(
            [(e["worker"], e["notebook"], e["item"], e["arguments"], e["run"]["run_id"], e["status"], e["error"], e["attempts"]) for e in ended]))
        self.assertEqual([store.row(k)["status"] for k in ("e00", "e01", "e02")], ["DONE", "FAILED", "RUNNING"])
        self.assertEqual(store.row("e01")["last_error"], "RUN_EXECUTION_ERROR (CLIENT_ERROR) Task worker failed")
        self.assertEqual((report["finished"], report["failed"], report["still_running"]), (["e00"], ["e01"], ["e02"]))
        self.assertEqual(logged, [[("daily_sales", "workers/daily_sales", "daily_sales", "{}", first, "DONE", None, 1),
                                   ("daily_sales", "workers/daily_sales", "daily_sales", "{}", second, "FAILED",
                                    "RUN_EXECUTION_ERROR (CLIENT_ERROR) Task worker failed", 1)]], "one call per pass")


class EachEntryRunsItsWorkersJob(DispatcherTest):
    def test_run_now_goes_to_the_entrys_worker_job_with_its_parameters_and_a_token(self):
        store = self.store()
        store.insert("daily/2026-11-21", "daily_sales", '{"input_table": "orders_2026_11_21"}')
        store.insert("totals", "customer_totals")
        report = self.dispatch(store)
        self.assertEqual(report["submitted"], ["daily/2026-11-21", "totals"])
        calls = self.jobs.calls("POST", "jobs/run-now")
        self.assertEqual(calls[0], {"job_id": 71, "idempotency_token": "token-000",
                                    "job_parameters": {"input_table": "orders_2026_11_21", "entry_key": "daily/2026-11-21", "attempt": "1",
                                                       "work_item": "daily_sales(input_table=orders_2026_11_21)"}})
        self.assertEqual(calls[1]["job_id"], 70)
        self.assertEqual((store.row("totals")["status"], store.row("totals")["attempts"], store.row("totals")["submission_token"]), ("RUNNING", 1, "token-001"))

    def test_a_claimed_entry_whose_worker_is_gone_fails_instead_of_resuming(self):
        store = self.store(1)
        store.row("e00").update(status="SUBMITTING", attempts=1, submission_token="t", worker="retired_worker")
        self.assertEqual(self.dispatch(store)["failed"], ["e00"])
        self.assertIn("unknown worker 'retired_worker'", store.row("e00")["last_error"])

    def test_an_entry_that_can_never_run_fails_at_once_without_a_run(self):
        store = self.store()
        store.insert("nightly", "nightly_sales")
        store.insert("typo", "daily_sales", '{"input_tabel": "x"}')
        store.insert("not-json", "daily_sales", "{oops")
        store.insert("reserved", "daily_sales", '{"attempt": "7"}')
        report = self.dispatch(store)
        self.assertEqual(sorted(report["failed"]), ["nightly", "not-json", "reserved", "typo"])
        self.assertIn("unknown worker 'nightly_sales'; expected one of the worker jobs customer_totals, daily_sales", store.row("nightly")["last_error"])
        self.assertIn("parameters input_tabel are not parameters of worker 'daily_sales' (notebook workers/daily_sales); expected some of catalog, schema",
                      store.row("typo")["last_error"])
        self.assertIn("parameters attempt are not parameters", store.row("reserved")["last_error"])
        self.assertIn("are not JSON", store.row("not-json")["last_error"])
        self.assertEqual(self.jobs.calls("POST", "jobs/run-now"), [])
        self.assertEqual(self.dispatch(store)["failed"], [], "they stay FAILED with no attempts left")


class ATeamNotebookOverManyTables(DispatcherTest):
    """One worker job for the team's notebook; entries differ by their arguments, like the orchestrators' items."""

    def test_entries_run_the_notebooks_job_with_their_arguments_and_are_logged_as_items(self):
        store = self.store()
        store.insert("orders", "ingest_table", '{"table": "sales.orders"}')
        store.insert("customers", "ingest_table", '{"table": "sales.customers", "mode": "full"}')
        store.insert("typo", "ingest_table", '{"tabel": "sales.returns"}')
        store.insert("not-this-job", "daily_sales", '{"table": "sales.orders"}')
        report = self.dispatch(store)
        self.assertEqual((report["submitted"], sorted(report["failed"])), (["orders", "customers"], ["not-this-job", "typo"]))
        self.assertEqual(store.row("typo")["last_error"], "parameters tabel are not parameters of worker 'ingest_table' (notebook ingest/ingest_table); "
                                                          "expected some of catalog, schema, input_table, run_log_table, mode, table")
        self.assertIn("parameters table are not parameters of worker 'daily_sales'", store.row("not-this-job")["last_error"])
        calls = self.jobs.calls("POST", "jobs/run-now")
        self.assertEqual([(c["job_id"], c["job_parameters"]) for c in calls], [
            (80, {"table": "sales.orders", "entry_key": "orders", "attempt": "1", "work_item": "ingest_table(table=sales.orders)"}),
            (80, {"table": "sales.customers", "mode": "full", "entry_key": "customers", "attempt": "1",
                  "work_item": "ingest_table(mode=full, table=sales.customers)"}),
        ])
        for key in ("orders", "customers"):
            self.jobs.set_run(store.row(key)["run_id"], "TERMINATED", "SUCCESS")
        logged = []
        self.dispatch(store, log_runs=logged.extend)
        self.assertEqual([(e["notebook"], e["item"], e["arguments"], e["status"]) for e in logged], [
            ("ingest/ingest_table", "ingest_table(table=sales.orders)", '{"table":"sales.orders"}', "DONE"),
            ("ingest/ingest_table", "ingest_table(mode=full, table=sales.customers)", '{"mode":"full","table":"sales.customers"}', "DONE"),
        ])

    def test_a_running_entry_of_a_job_the_stack_no_longer_has_is_still_logged_under_its_worker(self):
        store = self.store()
        store.insert("old", "retired_worker", '{"day": "2026-11-21"}')
        store.row("old").update(status="RUNNING", attempts=1, run_id=self.jobs.start_run(79))
        self.jobs.set_run(store.row("old")["run_id"], "TERMINATED", "SUCCESS")
        logged = []
        self.dispatch(store, log_runs=logged.extend)
        self.assertEqual([(e["notebook"], e["item"], e["arguments"]) for e in logged], [("retired_worker", "retired_worker(day=2026-11-21)", '{"day":"2026-11-21"}')])


class TheCapCountsWhatHoldsContexts(DispatcherTest):
    def test_runs_the_dispatcher_did_not_start_count_against_the_cap_and_the_cluster(self):
        self.jobs.start_run(DISPATCHER_JOB, tasks=[("setup", CLUSTER, "TERMINATED"), ("dispatch", CLUSTER, "RUNNING")])
        parallel = self.jobs.start_run(PARALLEL_JOB, tasks=[("setup", CLUSTER, "TERMINATED"), ("orchestrate", CLUSTER, "RUNNING")])
        for _ in range(4):  # the parallel orchestrator's dbutils.notebook.run children
            self.jobs.start_run(None, run_type="WORKFLOW_RUN", tasks=[("notebook", CLUSTER, "RUNNING")])
        self.jobs.start_run(SEQUENTIAL_JOB, tasks=[("setup", CLUSTER, "RUNNING"), ("orchestrate", CLUSTER, "BLOCKED")])
        self.jobs.start_run(71)  # a worker job run started by hand
        self.jobs.start_run(999, cluster_id="another-cluster")  # holds nothing on this cluster
        usage = active_usage(self.api.active_runs(), {job["job_id"] for job in WORKER_JOBS.values()}, CLUSTER)
        self.assertEqual(usage, {"fan_out": 1, "contexts": 8, "task_runs": 9})
        self.assertIsNotNone(parallel)

        report = self.dispatch(self.store(20), cap=5)
        self.assertEqual(len(report["submitted"]), 4, "the run started by hand holds one of the 5")
        self.assertEqual(len(report["waiting"]), 16)
        report = self.dispatch(self.store(20), cap=100, context_limit=20)
        self.assertEqual(len(report["submitted"]), 8, "8 + 4 of the 20 contexts were in use")

    def test_counts_every_page_of_active_runs(self):
        for _ in range(60):
            self.jobs.start_run(999, cluster_id=CLUSTER)
        report = self.dispatch(self.store(10), cap=50, context_limit=65)
        self.assertEqual(report["usage"], {"fan_out": 0, "contexts": 60, "task_runs": 60})
        self.assertEqual(len(report["submitted"]), 5)
        pages = self.jobs.calls("GET", "jobs/runs/list")
        self.assertEqual(len(pages), 3)
        self.assertTrue(all(page["limit"] == "25" and page["active_only"] == "true" and page["expand_tasks"] == "true" for page in pages))

    def test_on_job_clusters_the_workspace_limit_of_task_runs_applies(self):
        for _ in range(30):
            self.jobs.start_run(999, cluster_id="job-cluster")
        report = self.dispatch(self.store(10), cap=50, cluster_id=None, workspace_task_run_limit=33)
        self.assertEqual(len(report["submitted"]), 3)

    def test_submits_nothing_when_the_active_runs_cannot_be_counted(self):
        self.jobs.fail("GET", "jobs/runs/list", 503, "TEMPORARILY_UNAVAILABLE", "try later", times=5)
        store = self.store(2)
        report = self.dispatch(store)
        self.assertEqual((report["submitted"], self.jobs.calls("POST", "jobs/run-now")), ([], []))
        self.assertIn("cannot count active runs: GET jobs/runs/list: HTTP 503 TEMPORARILY_UNAVAILABLE: try later", report["errors"][0])
        self.assertEqual(store.row("e00")["status"], "PENDING")


class ARunThatNoLongerExists(DispatcherTest):
    def test_fails_the_entry_with_the_reason_uses_the_attempt_and_is_retried_with_a_new_run(self):
        store = self.store(1)
        self.dispatch(store, max_attempts=2)
        first = store.row("e00")["run_id"]
        self.jobs.delete_run(first)
        report = self.dispatch(store, max_attempts=2)
        self.assertEqual(report["failed"], ["e00"])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("FAILED", 1))
        self.assertEqual(store.row("e00")["last_error"], f"run {first} no longer exists: RESOURCE_DOES_NOT_EXIST: Run {first} does not exist.")
        # The next pass retries it: a new token, a new run, the second attempt.
        self.assertEqual(self.dispatch(store, max_attempts=2)["submitted"], ["e00"])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("RUNNING", 2))
        self.assertNotEqual(store.row("e00")["run_id"], first)
        self.jobs.delete_run(store.row("e00")["run_id"])
        self.assertEqual(self.dispatch(store, max_attempts=2)["submitted"], [])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("FAILED", 2))


class EntriesHaveADeadline(DispatcherTest):
    def test_a_run_stuck_past_the_deadline_is_cancelled_timed_out_and_retried(self):
        store = self.store(1)
        self.dispatch(store, deadline_seconds=1800)
        stuck = store.row("e00")["run_id"]
        self.clock.now += 1799
        self.assertEqual(self.dispatch(store, deadline_seconds=1800)["still_running"], ["e00"])
        self.clock.now += 2
        report = self.dispatch(store, deadline_seconds=1800, max_attempts=2)
        self.assertEqual(report["timed_out"], ["e00"])
        self.assertEqual(self.jobs.calls("POST", "jobs/runs/cancel"), [{"run_id": stuck}])
        self.assertEqual(self.jobs.runs[stuck]["status"]["termination_details"]["code"], "USER_CANCELED")
        self.assertEqual(store.row("e00")["status"], "TIMED_OUT")
        self.assertIn(f"deadline of 30 min passed with the run QUEUED; run {stuck} cancelled", store.row("e00")["last_error"])
        self.assertEqual(self.dispatch(store, deadline_seconds=1800, max_attempts=2)["submitted"], ["e00"], "retried, attempts permitting")
        self.assertEqual((store.row("e00")["attempts"], store.row("e00")["status"]), (2, "RUNNING"))
        self.clock.now += 1801
        final = self.dispatch(store, deadline_seconds=1800, max_attempts=2)
        self.assertEqual((final["timed_out"], final["submitted"]), (["e00"], []))
        self.assertEqual(store.row("e00")["status"], "TIMED_OUT")
        self.assertIn("deadline of 30 min passed with the run QUEUED; run", store.row("e00")["last_error"])

    def test_an_entry_from_before_submitted_at_existed_takes_its_runs_start_time(self):
        store = self.store(1)
        self.dispatch(store)
        store.row("e00")["submitted_at"] = None
        self.jobs.runs[store.row("e00")["run_id"]]["start_time"] = int((self.clock() - 7200) * 1000)
        self.assertEqual(self.dispatch(store, deadline_seconds=3600)["timed_out"], ["e00"])

    def test_a_run_that_cannot_be_cancelled_stays_running_for_the_next_pass(self):
        store = self.store(1)
        self.dispatch(store, deadline_seconds=60)
        self.clock.now += 120
        self.jobs.fail("POST", "jobs/runs/cancel", 500, "INTERNAL_ERROR", "boom", times=2)
        report = self.dispatch(store, deadline_seconds=60)
        self.assertEqual((report["timed_out"], store.row("e00")["status"]), ([], "RUNNING"))
        self.assertIn("cannot cancel run", report["errors"][0])
        self.assertEqual(self.dispatch(store, deadline_seconds=60)["timed_out"], ["e00"])


class ReQueueingStartsANewRun(DispatcherTest):
    def test_an_update_back_to_pending_starts_a_new_run(self):
        store = self.store(1)
        self.dispatch(store)
        first = store.row("e00")["run_id"]
        self.jobs.set_run(first, "TERMINATED", "SUCCESS")
        self.dispatch(store)
        self.assertEqual(store.row("e00")["status"], "DONE")
        # The README's re-queue by hand: UPDATE ... SET status = 'PENDING', attempts = 0
        store.row("e00").update(status="PENDING", attempts=0)
        self.assertEqual(self.dispatch(store)["submitted"], ["e00"])
        self.assertNotEqual(store.row("e00")["run_id"], first)
        self.assertEqual(len(self.jobs.runs), 2)

    def test_a_delete_and_re_insert_of_the_same_key_starts_a_new_run(self):
        store = self.store(1)
        self.dispatch(store)
        first = store.row("e00")["run_id"]
        store.insert("e00", "daily_sales")
        self.assertEqual(self.dispatch(store)["submitted"], ["e00"])
        self.assertNotEqual(store.row("e00")["run_id"], first)

    def test_a_pass_that_crashed_after_run_now_gets_the_same_run_back(self):
        store = self.store(1)
        store.fail_apply_on = lambda changes: changes.get("status") == "RUNNING"
        with self.assertRaises(RuntimeError):
            self.dispatch(store)
        self.assertEqual((store.row("e00")["status"], store.row("e00")["submission_token"]), ("SUBMITTING", "token-000"))
        self.assertLessEqual(self.lease_table["dispatcher"]["expires_at"], self.clock(), "the lease was given back")
        store.fail_apply_on = None
        report = self.dispatch(store)
        self.assertEqual(report["submitted"], ["e00"])
        self.assertEqual(len(self.jobs.runs), 1, "the same token gave the same run")
        self.assertEqual([c["idempotency_token"] for c in self.jobs.calls("POST", "jobs/run-now")], ["token-000", "token-000"])
        self.assertEqual(store.row("e00")["attempts"], 1)

    def test_a_pass_that_crashed_before_run_now_starts_exactly_one_run(self):
        store = self.store(1)
        self.jobs.fail("POST", "jobs/run-now", 503, "TEMPORARILY_UNAVAILABLE", "busy", times=2)
        report = self.dispatch(store)
        self.assertIn("e00: run-now failed", report["errors"][0])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("SUBMITTING", 1))
        self.assertEqual(self.dispatch(store)["submitted"], ["e00"])
        self.assertEqual((len(self.jobs.runs), store.row("e00")["attempts"]), (1, 1))


class PermanentErrorsUseAnAttempt(DispatcherTest):
    def test_a_4xx_fails_the_entry_with_the_apis_message_and_later_entries_still_run(self):
        store = self.store(3)
        self.jobs.fail("POST", "jobs/run-now", 400, "INVALID_PARAMETER_VALUE", "Job 71 is paused for maintenance.", times=10,
                       when=lambda body: body["job_parameters"]["entry_key"] == "e00")
        report = self.dispatch(store, cap=1, max_attempts=2)
        self.assertEqual(report["failed"], ["e00"])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("FAILED", 1))
        self.assertEqual(store.row("e00")["last_error"], "run-now refused: INVALID_PARAMETER_VALUE: Job 71 is paused for maintenance.")
        self.dispatch(store, cap=1, max_attempts=2)  # e00's second and last attempt
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("FAILED", 2))
        self.assertEqual(self.dispatch(store, cap=1, max_attempts=2)["submitted"], ["e01"], "no slot is taken by e00 any more")

    def test_a_429_is_transient_and_keeps_the_attempt_and_token(self):
        store = self.store(1)
        self.jobs.fail("POST", "jobs/run-now", 429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", times=2, headers={"Retry-After": "0"})
        report = self.dispatch(store)
        self.assertIn("HTTP 429 REQUEST_LIMIT_EXCEEDED", report["errors"][0])
        self.assertEqual((store.row("e00")["status"], store.row("e00")["attempts"]), ("SUBMITTING", 1))
        self.assertEqual(self.dispatch(store)["submitted"], ["e00"])
        self.assertEqual(store.row("e00")["attempts"], 1)

    def test_a_403_stops_the_pass_without_failing_entries(self):
        store = self.store(3)
        self.jobs.fail("POST", "jobs/run-now", 403, "PERMISSION_DENIED", "User does not have Manage Run permissions on job 71.", times=1)
        report = self.dispatch(store)
        self.assertEqual((report["failed"], len(self.jobs.calls("POST", "jobs/run-now"))), ([], 1))
        # Claimed, tokens kept: the next pass resumes them without using another attempt.
        self.assertEqual([(store.row(k)["status"], store.row(k)["attempts"]) for k in ("e00", "e01", "e02")], [("SUBMITTING", 1)] * 3)
        self.assertIn("PERMISSION_DENIED", store.row("e00")["last_error"])
        self.assertEqual(sorted(self.dispatch(store)["submitted"]), ["e00", "e01", "e02"])
        self.assertEqual([store.row(k)["attempts"] for k in ("e00", "e01", "e02")], [1, 1, 1])


class OverlappingPassesKeepTheCap(DispatcherTest):
    def test_a_pass_that_starts_while_another_holds_the_lease_does_nothing(self):
        store = self.store(10)
        reports = {}
        self.jobs.before_run_now = lambda: reports.setdefault("B", self.dispatch(store, holder="interactive", cap=3))
        reports["A"] = self.dispatch(store, holder="scheduled", cap=3)
        self.assertTrue(reports["B"]["lease"].startswith("not acquired (held by scheduled until"))
        self.assertEqual(len(reports["A"]["submitted"]), 3)
        self.assertEqual(len(self.jobs.active()), 3, "the cap held across the two passes")
        self.assertEqual(len(self.dispatch(store, holder="interactive", cap=3)["submitted"]), 0, "the lease was given back; no slot is free")

    def test_an_expired_lease_is_taken_over(self):
        self.lease_table["dispatcher"] = {"holder": "crashed", "expires_at": self.clock() - 1}
        self.assertEqual(len(self.dispatch(self.store(2))["submitted"]), 2)
        self.lease_table["dispatcher"] = {"holder": "alive", "expires_at": self.clock() + 60}
        self.assertIn("held by alive", self.dispatch(self.store(2))["lease"])


class ADrainEndToEnd(DispatcherTest):
    def test_many_passes_keep_the_cap_start_one_run_per_attempt_and_end_every_entry(self):
        import random
        rng = random.Random(7)
        store = self.store(30)
        for _ in range(3):  # runs of other jobs on the cluster come and go
            self.jobs.start_run(999, cluster_id=CLUSTER)
        for _ in range(60):
            self.clock.now += 60
            report = self.dispatch(store, cap=5, max_attempts=2, deadline_seconds=600)
            active = [run for run in self.jobs.active() if run["job_id"] in {job["job_id"] for job in WORKER_JOBS.values()}]
            self.assertLessEqual(len(active), 5, f"pass {report}")
            for run in active:  # each run moves on: starts, then ends well or badly, or hangs
                state = run["state"]["life_cycle_state"]
                roll = rng.random()
                if state == "QUEUED":
                    self.jobs.set_run(run["run_id"], "RUNNING")
                elif roll < 0.6:
                    self.jobs.set_run(run["run_id"], "TERMINATED", "SUCCESS")
                elif roll < 0.75:
                    self.jobs.set_run(run["run_id"], "TERMINATED", "FAILED", "boom")
                elif roll < 0.8:
                    self.jobs.delete_run(run["run_id"])
            if all(row["status"] in ("DONE", "FAILED", "TIMED_OUT") and (row["status"] == "DONE" or row["attempts"] >= 2) for row in store.rows.values()):
                break
        statuses = [row["status"] for row in store.rows.values()]
        self.assertTrue(all(status in ("DONE", "FAILED", "TIMED_OUT") for status in statuses), statuses)
        self.assertGreater(statuses.count("DONE"), 20)
        worker_runs = [body for body in self.jobs.calls("POST", "jobs/run-now")]
        self.assertEqual(len(worker_runs), sum(row["attempts"] for row in store.rows.values()), "one run-now per attempt")
        self.assertEqual(len({body["idempotency_token"] for body in worker_runs}), len(worker_runs))


class Recorder:
    """A SparkSession that records statements; MERGEs report `affected` rows, SELECTs return `rows`."""

    def __init__(self, affected=1, rows=(), fail=None):
        self.statements, self.affected, self.rows, self.fail = [], affected, list(rows), fail

    def sql(self, query, args=None):
        self.statements.append((query, args))
        if self.fail and self.fail in query:
            raise RuntimeError("[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added by a concurrent update.")
        recorder = self

        class Result:
            def first(self):
                return {"num_affected_rows": recorder.affected, "holder": "other", "expires_at": "2026-12-01 00:10:00"}

            def collect(self):
                return recorder.rows

        return Result()


def claim(key, token, expected_status="PENDING", expected_attempts=0):
    return {"entry_key": key, "expected_status": expected_status, "expected_attempts": expected_attempts,
            "changes": {"status": "SUBMITTING", "submission_token": token, "attempts": expected_attempts + 1, "submitted_at": NOW}}


class DeltaStatements(unittest.TestCase):
    def test_a_pass_writes_one_merge_per_kind_of_change_matching_only_rows_as_read(self):
        spark = Recorder(affected=2)
        store = DeltaStateStore(spark, "`main`.`s`.`etl_work_queue`")
        done = {"entry_key": "e9", "expected_status": "RUNNING", "expected_attempts": 1, "changes": {"status": "DONE", "last_error": None}}
        self.assertEqual(store.apply([claim("e00", "t0"), claim("e01", "t1"), done]), {"e00", "e01"})
        self.assertEqual(len(spark.statements), 3, "two MERGEs, then a read-back of the one that updated fewer rows than given")
        query, args = spark.statements[0]
        self.assertIn("MERGE INTO `main`.`s`.`etl_work_queue` AS target", query)
        self.assertIn("USING (VALUES (CAST(:k0 AS STRING), CAST(:s0 AS STRING), CAST(:a0 AS INT), CAST(:status0 AS STRING), CAST(:submission_token0 AS STRING), "
                      "CAST(:attempts0 AS INT)), (CAST(:k1 AS STRING)", query)
        self.assertIn("AS source(entry_key, expected_status, expected_attempts, status, submission_token, attempts)", query)
        self.assertIn("WHEN MATCHED AND target.status = source.expected_status AND coalesce(target.attempts, 0) = source.expected_attempts", query)
        self.assertIn("UPDATE SET target.status = source.status, target.submission_token = source.submission_token, target.attempts = source.attempts, "
                      "target.submitted_at = current_timestamp(), target.updated_at = current_timestamp()", query)
        self.assertEqual(args, {"k0": "e00", "s0": "PENDING", "a0": 0, "status0": "SUBMITTING", "submission_token0": "t0", "attempts0": 1,
                                "k1": "e01", "s1": "PENDING", "a1": 0, "status1": "SUBMITTING", "submission_token1": "t1", "attempts1": 1})
        self.assertIn("WHERE entry_key IN (:k0)", spark.statements[2][0])
        self.assertEqual(spark.statements[2][1], {"k0": "e9"})

    def test_a_merge_that_updated_fewer_rows_is_read_back_to_find_which(self):
        rows = [{"entry_key": "e00", "status": "SUBMITTING", "submission_token": "t0", "attempts": 1},
                {"entry_key": "e01", "status": "SUBMITTING", "submission_token": "other-pass", "attempts": 1}]
        store = DeltaStateStore(Recorder(affected=1, rows=rows), "t")
        self.assertEqual(store.apply([claim("e00", "t0"), claim("e01", "t1")]), {"e00"})

    def test_reads_only_entries_that_may_need_work(self):
        spark = Recorder()
        DeltaStateStore(spark, "t").read_rows(3)
        query = spark.statements[0][0]
        self.assertIn("submission_token, submitted_at FROM t", query)
        self.assertIn("status <> 'DONE' AND NOT (status IN ('FAILED', 'TIMED_OUT') AND coalesce(attempts, 0) >= 3)", query)

    def test_the_lease_is_a_conditional_merge_and_a_lost_race_is_not_acquired(self):
        spark = Recorder()
        lease = DeltaLease(spark, "`main`.`s`.`etl_work_queue_lease`", "run-42", 1800)
        self.assertTrue(lease.acquire())
        query, args = spark.statements[0]
        self.assertIn("MERGE INTO `main`.`s`.`etl_work_queue_lease` AS target", query)
        self.assertIn("WHEN MATCHED AND (target.expires_at IS NULL OR target.expires_at < current_timestamp() OR target.holder = source.holder)", query)
        self.assertIn("current_timestamp() + INTERVAL 1800 SECONDS", query)
        self.assertEqual(args, {"name": "dispatcher", "holder": "run-42"})
        lease.release()
        self.assertIn("SET expires_at = current_timestamp() WHERE name = :name AND holder = :holder", spark.statements[1][0])
        held = DeltaLease(Recorder(affected=0), "l", "run-43", 60)
        self.assertFalse(held.acquire())
        self.assertEqual(held.problem, "held by other until 2026-12-01 00:10:00")
        raced = DeltaLease(Recorder(fail="MERGE"), "l", "run-44", 60)
        self.assertFalse(raced.acquire())
        self.assertIn("lost the race for the lease", raced.problem)

    def test_a_lease_table_that_cannot_be_written_fails_the_pass_loudly(self):
        class Missing(Recorder):
            def sql(self, query, args=None):
                raise RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] The table or view `l` cannot be found.")

        with self.assertRaisesRegex(RuntimeError, "TABLE_OR_VIEW_NOT_FOUND"):
            DeltaLease(Missing(), "l", "run-45", 60).acquire()


class ClientErrors(DispatcherTest):
    def test_error_answers_carry_the_apis_code_and_message(self):
        with self.assertRaises(JobsApiError) as raised:
            self.api.get_run(5)
        self.assertEqual((raised.exception.status, raised.exception.error_code, raised.exception.not_found), (404, "RESOURCE_DOES_NOT_EXIST", True))
        self.assertFalse(raised.exception.permanent and raised.exception.about_credentials)
        with self.assertRaises(JobsApiError) as unauthenticated:
            JobsApiClient(self.fake.url, "wrong").get_run(5)
        self.assertTrue(unauthenticated.exception.about_credentials)
        self.assertFalse(unauthenticated.exception.permanent)
        # Some Jobs API endpoints say "does not exist" as a 400 INVALID_PARAMETER_VALUE.
        self.assertTrue(JobsApiError("GET", "jobs/runs/get", 400, "INVALID_PARAMETER_VALUE", "Run 5 does not exist.").not_found)
        self.assertFalse(JobsApiError("POST", "jobs/run-now", 400, "INVALID_PARAMETER_VALUE", "Job parameter x is invalid.").not_found)
        self.assertTrue(JobsApiError("POST", "jobs/run-now", 400, "INVALID_PARAMETER_VALUE", "x").permanent)
        self.assertFalse(JobsApiError("POST", "jobs/run-now", 429, "REQUEST_LIMIT_EXCEEDED", "x").permanent)
        self.assertFalse(JobsApiError("POST", "jobs/run-now", 503, "TEMPORARILY_UNAVAILABLE", "x").permanent)


if __name__ == "__main__":
    unittest.main()
