# Databricks notebook source
# MAGIC %md
# MAGIC # Baseline: the common parallel-notebook snippet
# MAGIC
# MAGIC `ThreadPool(n).map(run, notebooks)` in declared order, as most parallel-notebook examples do.
# MAGIC Only `npm run bench` and `npm run simulate` run it, locally, to compare the project's parallel
# MAGIC orchestrator against it; it is never deployed.

# COMMAND ----------

from multiprocessing.pool import ThreadPool

WORKERS = {{ workers }}
MAX_WORKERS = {{ max_workers }}


def run(worker):
    return dbutils.notebook.run(worker["path"], 0, worker["arguments"])


with ThreadPool(MAX_WORKERS) as pool:
    results = pool.map(run, WORKERS)
dbutils.notebook.exit(str(len(results)))
