# Databricks notebook source
# MAGIC %md
# MAGIC # Setup
# MAGIC
# MAGIC First task of both orchestration jobs. Idempotent, so it is cheap on every run:
# MAGIC - creates the environment's schema, the input table `orders`, the append-only run-log table (with
# MAGIC   `ensure_run_log` from lib/orchestration, as the orchestrators do: one definition of its columns,
# MAGIC   added to an older run log) and, with the asynchronous fan-out on, its state and lease tables (adding
# MAGIC   to an existing state table the columns a newer dispatcher needs), before any worker fans out
# MAGIC   (concurrent workers then only append to the run log, which never conflicts);
# MAGIC - when `sample_data` is `true` and the input table is empty, fills it with deterministic sample
# MAGIC   orders (the same rows in every environment), including later versions of some orders so the
# MAGIC   workers' deduplication has something to do;
# MAGIC - checks that the Key Vault-backed secret scope can be read, so a missing role assignment fails
# MAGIC   here with a clear message instead of in the middle of a worker.

# COMMAND ----------

# MAGIC %run ./lib/etl

# COMMAND ----------

# MAGIC %run ./lib/orchestration

# COMMAND ----------

for _name, _default in [("sample_data", "true"), ("sample_rows", "20000"), ("secret_scope", ""), ("state_table", ""), ("lease_table", "")]:
    dbutils.widgets.text(_name, _default)

catalog, schema = widget("catalog"), widget("schema")
schema_name = f"{quote_identifier(catalog)}.{quote_identifier(schema)}"
input_table = table_name(widget("input_table"))
run_log_table = table_name(widget("run_log_table"))
sample_data = widget("sample_data").lower()
if sample_data not in ("true", "false"):
    raise ValueError(f"Parameter sample_data={sample_data!r}; expected true or false")
try:
    sample_rows = int(widget("sample_rows"))
except ValueError:
    raise ValueError(f"Parameter sample_rows={widget('sample_rows')!r} is not an integer") from None
if sample_rows < 1:
    raise ValueError(f"Parameter sample_rows={sample_rows}; expected a positive integer")

# COMMAND ----------

# DBTITLE 1,Schema and tables
spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
spark.sql(
    f"""
    CREATE TABLE IF NOT EXISTS {input_table} (
        order_id BIGINT NOT NULL,
        customer_id STRING,
        product_id STRING,
        order_ts TIMESTAMP,
        status STRING,
        quantity INT,
        unit_price DECIMAL(10,2),
        updated_at TIMESTAMP
    ) USING DELTA
    COMMENT 'Orders, one row per version of an order; the latest updated_at is current'
    """
)
ensure_run_log(run_log_table)

state_table = table_name(widget("state_table")) if widget("state_table") else None
lease_table = table_name(widget("lease_table")) if widget("lease_table") else None
if state_table:
    spark.sql(
        f"""
        CREATE TABLE IF NOT EXISTS {state_table} (
            entry_key STRING NOT NULL,
            worker STRING NOT NULL,
            parameters STRING,
            status STRING NOT NULL,
            run_id BIGINT,
            attempts INT,
            created_at TIMESTAMP,
            updated_at TIMESTAMP,
            last_error STRING,
            submission_token STRING,
            submitted_at TIMESTAMP
        ) USING DELTA
        COMMENT 'Work for the asynchronous fan-out: producers INSERT PENDING entries, the dispatcher runs them'
        """
    )
    # Columns added since the first version of the state table.
    add_missing_columns(state_table, [("submission_token", "STRING"), ("submitted_at", "TIMESTAMP")])
if lease_table:
    spark.sql(
        f"""
        CREATE TABLE IF NOT EXISTS {lease_table} (
            name STRING NOT NULL,
            holder STRING,
            acquired_at TIMESTAMP,
            expires_at TIMESTAMP
        ) USING DELTA
        COMMENT 'The asynchronous fan-out dispatcher lease: one pass at a time counts slots and submits'
        """
    )

# COMMAND ----------

# DBTITLE 1,Deterministic sample orders
SAMPLE_ORDERS_SQL = """
INSERT INTO {input_table}
SELECT id AS order_id,
       concat('C', lpad(CAST(pmod(id * 7919, 500) AS STRING), 4, '0')) AS customer_id,
       concat('P', lpad(CAST(pmod(id * 104729, 120) AS STRING), 3, '0')) AS product_id,
       timestampadd(MINUTE, CAST(pmod(id * 37, 525600) AS INT), TIMESTAMP'2026-01-01 00:00:00') AS order_ts,
       element_at(array('PLACED', 'PAID', 'SHIPPED', 'CANCELLED'), CAST(pmod(id * 13, 4) + 1 AS INT)) AS status,
       CAST(pmod(id * 31, 5) + 1 AS INT) AS quantity,
       CAST(5 + pmod(id * 17, 9500) / 100.0 AS DECIMAL(10,2)) AS unit_price,
       timestampadd(MINUTE, CAST(pmod(id * 37, 525600) AS INT), TIMESTAMP'2026-01-01 00:00:00') AS updated_at
FROM range({rows})
UNION ALL
SELECT id AS order_id,
       concat('C', lpad(CAST(pmod(id * 7919, 500) AS STRING), 4, '0')),
       concat('P', lpad(CAST(pmod(id * 104729, 120) AS STRING), 3, '0')),
       timestampadd(MINUTE, CAST(pmod(id * 37, 525600) AS INT), TIMESTAMP'2026-01-01 00:00:00'),
       'DELIVERED',
       CAST(pmod(id * 31, 5) + 1 AS INT),
       CAST(5 + pmod(id * 17, 9500) / 100.0 AS DECIMAL(10,2)),
       timestampadd(DAY, 3, timestampadd(MINUTE, CAST(pmod(id * 37, 525600) AS INT), TIMESTAMP'2026-01-01 00:00:00'))
FROM range({rows})
WHERE pmod(id, 10) = 0
"""

inserted = 0
existing = spark.sql(f"SELECT COUNT(*) AS n FROM {input_table}").first()["n"]
if sample_data == "true" and existing == 0:
    spark.sql(SAMPLE_ORDERS_SQL.format(input_table=input_table, rows=sample_rows))
    inserted = spark.sql(f"SELECT COUNT(*) AS n FROM {input_table}").first()["n"]
    print(f"Inserted {inserted} sample order versions into {input_table}")
elif existing == 0:
    print(f"{input_table} is empty and sample_data is false: load it before the workers run")
else:
    print(f"{input_table} already has {existing} rows; sample data not inserted")

# COMMAND ----------

# DBTITLE 1,Secret scope
scope = widget("secret_scope")
secret_keys = []
if scope:
    try:
        secret_keys = [secret.key for secret in dbutils.secrets.list(scope)]
    except Exception as failure:
        raise RuntimeError(
            f"Cannot read secret scope {scope!r}: {failure}. The AzureDatabricks service principal needs the "
            "'Key Vault Secrets User' role on the scope's Key Vault (see docs/secrets.md, 'When the scope cannot be read')."
        ) from failure
    print(f"Secret scope {scope!r} is readable ({len(secret_keys)} secrets)")

dbutils.notebook.exit(json.dumps({
    "schema": f"{catalog}.{schema}",
    "input_table": input_table.replace("`", ""),
    "run_log_table": run_log_table.replace("`", ""),
    "state_table": state_table.replace("`", "") if state_table else None,
    "lease_table": lease_table.replace("`", "") if lease_table else None,
    "sample_rows_inserted": inserted,
    "secret_scope": scope,
    "secrets_visible": len(secret_keys),
}))
