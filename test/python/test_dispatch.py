"""The asynchronous fan-out's dispatcher (notebooks/lib/dispatch.py), run locally against a fake Jobs
API and an in-memory state table. Run with: python3 -m unittest discover -s test/python"""

import http.server
import json
import os
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISPATCH = {}
with open(os.path.join(ROOT, "notebooks", "lib", "dispatch.py"), encoding="utf-8") as source:
    exec(compile(source.read(), "notebooks/lib/dispatch.py", "exec"), DISPATCH)

plan_pass = DISPATCH["plan_pass"]
run_pass = DISPATCH["run_pass"]
run_outcome = DISPATCH["run_outcome"]
idempotency_token = DISPATCH["idempotency_token"]
JobsApiClient = DISPATCH["JobsApiClient"]
DeltaStateStore = DISPATCH["DeltaStateStore"]

WORKERS = {"customer_totals", "daily_sales", "product_sales", "order_status"}
WORKER_JOB = 77
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


class FakeJobsApi:
    """Jobs API 2.2 as the dispatcher uses it: run-now honours idempotency tokens, runs change state on demand."""

    def __init__(self, other_active=0):
        self.runs = {}
        self.tokens = {}
        self.other_active = other_active
        self.fail_run_now = set()
        self.fail_get = set()
        self.fail_count = False
        self.before_run_now = None
        self.run_now_calls = 0

    def run_now(self, job_id, job_parameters, token):
        self.run_now_calls += 1
        if self.before_run_now:
            hook, self.before_run_now = self.before_run_now, None
            hook()
        if job_parameters["entry_key"] in self.fail_run_now:
            raise RuntimeError("HTTP 500 TEMPORARILY_UNAVAILABLE")
        if token in self.tokens:
            return self.tokens[token]
        run_id = 1000 + len(self.runs)
        self.runs[run_id] = {"run_id": run_id, "job_id": job_id, "job_parameters": job_parameters,
                             "state": {"life_cycle_state": "PENDING"}, "start_time": 1_700_000_000_000}
        self.tokens[token] = run_id
        return run_id

    def finish(self, run_id, life_cycle="TERMINATED", result="SUCCESS", message=""):
        self.runs[run_id].update(state={"life_cycle_state": life_cycle, "result_state": result, "state_message": message},
                                 end_time=1_700_000_090_000, run_duration=90_000)

    def get_run(self, run_id):
        if run_id in self.fail_get:
            raise RuntimeError("HTTP 503")
        return json.loads(json.dumps(self.runs[run_id]))

    def active_run_count(self):
        if self.fail_count:
            raise RuntimeError("HTTP 429 REQUEST_LIMIT_EXCEEDED")
        return self.other_active + sum(1 for run in self.runs.values() if run["state"]["life_cycle_state"] not in TERMINAL)


class InMemoryStateStore:
    """The state table in memory, with the same conditional update as the Delta MERGE."""

    def __init__(self, entries):
        self.rows = {}
        for index, (key, worker) in enumerate(entries):
            self.rows[key] = {"entry_key": key, "worker": worker, "parameters": "{}", "status": "PENDING", "run_id": None,
                              "attempts": 0, "created_at": f"2026-11-21T00:00:{index:02d}", "last_error": None}
        self.fail_apply = False

    def read_rows(self, max_attempts):
        return [dict(row) for row in self.rows.values()
                if row["status"] != "DONE" and not (row["status"] == "FAILED" and row["attempts"] >= max_attempts)]

    def apply(self, entry_key, expected_status, expected_attempts, changes):
        if self.fail_apply:
            raise RuntimeError("cluster lost")
        row = self.rows[entry_key]
        if row["status"] != expected_status or row["attempts"] != expected_attempts:
            return False
        row.update(changes)
        return True

    def status(self, key):
        return self.rows[key]["status"]


def entries(count, worker="daily_sales"):
    return [(f"e{i:02d}", worker) for i in range(count)]


def dispatch(store, api, cap=10, max_attempts=3, log_run=None):
    return run_pass(store, api, WORKER_JOB, cap, max_attempts, WORKERS, log_run=log_run, log=lambda message: None)


class RunStateMapping(unittest.TestCase):
    def test_every_life_cycle_and_result_state_maps_to_the_right_status(self):
        cases = [
            ("TERMINATED", "SUCCESS", "DONE"),
            ("TERMINATED", "FAILED", "FAILED"),
            ("TERMINATED", "TIMEDOUT", "FAILED"),
            ("TERMINATED", "CANCELED", "FAILED"),
            ("TERMINATED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "FAILED"),
            ("TERMINATED", "UPSTREAM_FAILED", "FAILED"),
            ("TERMINATED", "EXCLUDED", "FAILED"),
            ("INTERNAL_ERROR", "FAILED", "FAILED"),
            ("INTERNAL_ERROR", None, "FAILED"),
            ("SKIPPED", None, "FAILED"),
            ("PENDING", None, None),
            ("QUEUED", None, None),
            ("RUNNING", None, None),
            ("TERMINATING", None, None),
            ("BLOCKED", None, None),
            ("WAITING_FOR_RETRY", None, None),
        ]
        for life_cycle, result, expected in cases:
            with self.subTest(life_cycle=life_cycle, result=result):
                self.assertEqual(run_outcome({"life_cycle_state": life_cycle, "result_state": result}), expected)

    def test_a_finished_run_marks_its_entry_and_appends_to_the_run_log(self):
        store, api = InMemoryStateStore(entries(3)), FakeJobsApi()
        dispatch(store, api)
        api.finish(1000)
        api.finish(1001, "TERMINATED", "FAILED", "Task worker failed")
        api.runs[1002]["state"] = {"life_cycle_state": "RUNNING"}
        logged = []
        report = dispatch(store, api, log_run=lambda worker, run, status, error, attempts: logged.append((worker, run["run_id"], status, error, attempts)))
        self.assertEqual([store.status(k) for k in ("e00", "e01", "e02")], ["DONE", "FAILED", "RUNNING"])
        self.assertEqual(store.rows["e01"]["last_error"], "TERMINATED FAILED Task worker failed")
        self.assertEqual(report["finished"], ["e00"])
        self.assertEqual(report["failed"], ["e01"])
        self.assertEqual(report["still_running"], ["e02"])
        self.assertEqual(logged, [("daily_sales", 1000, "DONE", None, 1), ("daily_sales", 1001, "FAILED", "TERMINATED FAILED Task worker failed", 1)])


class ConcurrencyCap(unittest.TestCase):
    def test_submits_only_up_to_the_cap_counting_runs_already_active_in_the_workspace(self):
        store, api = InMemoryStateStore(entries(10)), FakeJobsApi(other_active=2)
        report = dispatch(store, api, cap=5)
        self.assertEqual(report["submitted"], ["e00", "e01", "e02"])
        self.assertEqual(report["skipped_for_cap"], [f"e{i:02d}" for i in range(3, 10)])
        self.assertEqual(api.active_run_count(), 5)
        again = dispatch(store, api, cap=5)
        self.assertEqual(again["submitted"], [])
        self.assertEqual(len(again["skipped_for_cap"]), 7)

    def test_oldest_entries_go_first(self):
        rows = [{"entry_key": key, "worker": "daily_sales", "status": "PENDING", "attempts": 0, "created_at": created}
                for key, created in [("late", "2026-11-21T10:00"), ("early", "2026-11-21T09:00")]]
        plan = plan_pass(rows, {}, active_count=0, cap=1, max_attempts=3)
        self.assertEqual([s["entry_key"] for s in plan["submissions"]], ["early"])
        self.assertEqual(plan["skipped_for_cap"], ["late"])

    def test_submits_nothing_when_the_active_count_cannot_be_read(self):
        store, api = InMemoryStateStore(entries(2)), FakeJobsApi()
        api.fail_count = True
        report = dispatch(store, api)
        self.assertEqual(report["submitted"], [])
        self.assertEqual(api.run_now_calls, 0)
        self.assertIn("cannot count active runs", report["errors"][0])


class NoDoubleSubmission(unittest.TestCase):
    def test_two_overlapping_passes_submit_each_entry_once(self):
        store, api = InMemoryStateStore(entries(4)), FakeJobsApi()
        reports = {}
        # Pass B runs completely while pass A is about to make its first run-now call: both read PENDING.
        api.before_run_now = lambda: reports.setdefault("B", dispatch(store, api))
        reports["A"] = dispatch(store, api)
        self.assertEqual(len(api.runs), 4, "one run per entry")
        self.assertEqual(sorted(reports["B"]["submitted"]), ["e00", "e01", "e02", "e03"])
        self.assertEqual(sorted(reports["A"]["lost_race"]), ["e00", "e01", "e02", "e03"])
        for key, row in store.rows.items():
            self.assertEqual((row["status"], row["attempts"]), ("RUNNING", 1), key)
        self.assertEqual({row["run_id"] for row in store.rows.values()}, set(api.runs))

    def test_a_pass_that_crashed_after_run_now_gets_the_same_run_back_next_time(self):
        store, api = InMemoryStateStore(entries(1)), FakeJobsApi()
        store.fail_apply = True
        with self.assertRaises(RuntimeError):
            dispatch(store, api)
        self.assertEqual(store.status("e00"), "PENDING")
        store.fail_apply = False
        report = dispatch(store, api)
        self.assertEqual(report["submitted"], ["e00"])
        self.assertEqual(len(api.runs), 1)
        self.assertEqual(store.rows["e00"]["run_id"], 1000)

    def test_the_idempotency_token_is_per_job_entry_and_attempt(self):
        token = idempotency_token(77, "e00", 1)
        self.assertEqual(len(token), 64)
        self.assertNotEqual(token, idempotency_token(77, "e00", 2))
        self.assertNotEqual(token, idempotency_token(78, "e00", 1))
        self.assertEqual(token, idempotency_token(77, "e00", 1))


class Retries(unittest.TestCase):
    def test_failed_entries_are_resubmitted_on_the_next_pass_until_max_attempts(self):
        store, api = InMemoryStateStore(entries(1)), FakeJobsApi()
        self.assertEqual(dispatch(store, api, max_attempts=2)["submitted"], ["e00"])
        api.finish(1000, "TERMINATED", "FAILED")
        self.assertEqual(dispatch(store, api, max_attempts=2)["failed"], ["e00"])
        self.assertEqual((store.status("e00"), store.rows["e00"]["attempts"]), ("FAILED", 1))
        self.assertEqual(dispatch(store, api, max_attempts=2)["submitted"], ["e00"])
        self.assertEqual((store.status("e00"), store.rows["e00"]["attempts"], store.rows["e00"]["run_id"]), ("RUNNING", 2, 1001))
        api.finish(1001, "TERMINATED", "TIMEDOUT")
        report = dispatch(store, api, max_attempts=2)
        self.assertEqual((report["failed"], report["submitted"]), (["e00"], []))
        final = dispatch(store, api, max_attempts=2)
        self.assertEqual((final["submitted"], store.status("e00"), store.rows["e00"]["attempts"], len(api.runs)), ([], "FAILED", 2, 2))

    def test_an_entry_for_an_unknown_worker_fails_without_being_submitted(self):
        store, api = InMemoryStateStore([("e00", "nightly_sales")]), FakeJobsApi()
        report = dispatch(store, api)
        self.assertEqual(report["failed"], ["e00"])
        self.assertIn("unknown worker 'nightly_sales'", store.rows["e00"]["last_error"])
        self.assertEqual(api.run_now_calls, 0)
        self.assertEqual(dispatch(store, api)["failed"], [])


class ApiErrorsLoseNoState(unittest.TestCase):
    def test_a_failed_submission_leaves_the_entry_as_it_was_for_the_next_pass(self):
        store, api = InMemoryStateStore(entries(2)), FakeJobsApi()
        api.fail_run_now = {"e01"}
        report = dispatch(store, api)
        self.assertEqual(report["submitted"], ["e00"])
        self.assertIn("e01: run-now failed", report["errors"][0])
        self.assertEqual((store.status("e01"), store.rows["e01"]["attempts"], store.rows["e01"]["run_id"]), ("PENDING", 0, None))
        api.fail_run_now = set()
        self.assertEqual(dispatch(store, api)["submitted"], ["e01"])

    def test_a_run_that_cannot_be_read_stays_running_until_it_can(self):
        store, api = InMemoryStateStore(entries(1)), FakeJobsApi()
        dispatch(store, api)
        api.finish(1000)
        api.fail_get = {1000}
        report = dispatch(store, api)
        self.assertEqual(store.status("e00"), "RUNNING")
        self.assertIn("cannot read run 1000", report["errors"][0])
        api.fail_get = set()
        self.assertEqual(dispatch(store, api)["finished"], ["e00"])


class Recorder:
    def __init__(self, affected=1):
        self.statements = []
        self.affected = affected

    def sql(self, query, args=None):
        self.statements.append((query, args))
        recorder = self

        class Result:
            def first(self):
                return {"num_affected_rows": recorder.affected}

            def collect(self):
                return []

        return Result()


class DeltaStateTable(unittest.TestCase):
    def test_updates_are_merges_on_the_entry_key_that_match_only_the_row_as_read(self):
        spark = Recorder()
        store = DeltaStateStore(spark, "`main`.`s`.`etl_work_queue`")
        self.assertTrue(store.apply("e00", "PENDING", 0, {"status": "RUNNING", "run_id": 1000, "attempts": 1}))
        query, args = spark.statements[0]
        self.assertIn("MERGE INTO `main`.`s`.`etl_work_queue` AS target", query)
        self.assertIn("ON target.entry_key = source.entry_key", query)
        self.assertIn("WHEN MATCHED AND target.status = :expected_status AND coalesce(target.attempts, 0) = :expected_attempts", query)
        self.assertIn("target.status = :status, target.run_id = :run_id, target.attempts = :attempts, target.updated_at = current_timestamp()", query)
        self.assertEqual(args, {"entry_key": "e00", "expected_status": "PENDING", "expected_attempts": 0, "status": "RUNNING", "run_id": 1000, "attempts": 1})
        self.assertFalse(DeltaStateStore(Recorder(affected=0), "t").apply("e00", "PENDING", 0, {"status": "RUNNING"}))

    def test_reads_only_entries_that_may_need_work(self):
        spark = Recorder()
        DeltaStateStore(spark, "t").read_rows(3)
        self.assertIn("WHERE status IS NULL OR (status <> 'DONE' AND NOT (status = 'FAILED' AND coalesce(attempts, 0) >= 3))", spark.statements[0][0])


class JobsApiOverHttp(unittest.TestCase):
    """JobsApiClient against a Jobs API 2.2 server on 127.0.0.1."""

    def setUp(self):
        calls = self.calls = []
        throttle = {"left": 1}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def do_GET(self):
                calls.append(("GET", self.path, self.headers.get("Authorization")))
                if self.path.startswith("/api/2.2/jobs/runs/list"):
                    if "page_token=p2" in self.path:
                        return self.answer(200, {"runs": [{"run_id": 3}]})
                    return self.answer(200, {"runs": [{"run_id": 1}, {"run_id": 2}], "next_page_token": "p2"})
                return self.answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls.append(("POST", self.path, body))
                if throttle["left"]:
                    throttle["left"] -= 1
                    return self.answer(429, {"error_code": "REQUEST_LIMIT_EXCEEDED"}, {"Retry-After": "0"})
                return self.answer(200, {"run_id": 555})

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.sleeps = []
        self.client = JobsApiClient(f"http://127.0.0.1:{self.server.server_port}", "tok", timeout_seconds=5, sleep=self.sleeps.append)

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_counts_active_runs_over_every_page(self):
        self.assertEqual(self.client.active_run_count(), 3)
        self.assertIn("active_only=true", self.calls[0][1])
        self.assertEqual(self.calls[0][2], "Bearer tok")

    def test_run_now_retries_a_429_after_retry_after_and_sends_the_idempotency_token(self):
        self.assertEqual(self.client.run_now(77, {"worker": "daily_sales"}, "tok-1"), 555)
        self.assertEqual(self.sleeps, [0.0])
        self.assertEqual(self.calls[-1][2], {"job_id": 77, "job_parameters": {"worker": "daily_sales"}, "idempotency_token": "tok-1"})

    def test_a_client_error_is_not_retried(self):
        with self.assertRaises(DISPATCH["JobsApiError"]) as failure:
            self.client.get_run(9)
        self.assertIn("HTTP 404", str(failure.exception))
        self.assertEqual(len(self.calls), 1)


if __name__ == "__main__":
    unittest.main()
