//! The database is the trust anchor: what `loader_role` may do is the
//! protocol (stage rows, claim, identify, file rejects, complete, fail), and
//! every invariant holds whatever that role sends. Each attack of the
//! trust-boundary issue is a test here, run as `loader_role` against a real
//! PostgreSQL; so are the schema upgrade, order independence, the absence
//! of deadlocks between batches sharing ids, and NOTIFY on commit.

mod support;

use std::time::Duration;

use generator::Spec;
use loader::{Outcome, Source};
use standins::TestDb;
use support::*;
use tokio_postgres::Client;

/// One staged row's values (without load id) for transaction `id`.
fn row(id: &str, date: &str, store: i32, product: i32, customer: i32, name: &str) -> String {
    format!(
        "('{id}', '{date}'::date, '12:00:00'::time, 9.50, 'Cash', {store}, '{name}', 'Akron- OH', \
         {product}, 'Tea', 'Food', 2.50, 1, {customer}, 40, 'F', 'Gold')"
    )
}

/// A database with the schema and roles.sql applied; the admin client and
/// the URL to connect as loader_role.
async fn db_with_roles(prefix: &str) -> (TestDb, Client, String) {
    let (db, mut admin) = fresh_db(prefix).await;
    loader::schema::roles(&mut admin)
        .await
        .expect("roles.sql applies");
    let url = db
        .url()
        .replacen("postgres://postgres@", "postgres://loader_role@", 1);
    assert_ne!(url, db.url(), "test database URL has the expected form");
    (db, admin, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_role_holds_the_protocol_and_nothing_else() {
    let (_db, admin, _url) = db_with_roles("trust_privileges").await;
    let tables = [
        "staging_table",
        "facts",
        "dim_stores",
        "dim_products",
        "dim_customers",
        "dim_dates",
        "load_ledger",
        "load_rejects",
    ];
    let privileges = [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
    ];
    let mut granted = Vec::new();
    for table in tables {
        for privilege in privileges {
            let has: bool = admin
                .query_one(
                    "SELECT has_table_privilege('loader_role', $1, $2)",
                    &[&table, &privilege],
                )
                .await
                .expect("has_table_privilege")
                .get(0);
            if has {
                granted.push(format!("{privilege} on {table}"));
            }
        }
    }
    assert_eq!(granted, ["INSERT on staging_table"]);
    let sequence: bool = admin
        .query_one(
            "SELECT has_sequence_privilege('loader_role', 'load_ledger_load_id_seq', 'USAGE')
                 OR has_sequence_privilege('loader_role', 'load_ledger_load_id_seq', 'UPDATE')",
            &[],
        )
        .await
        .expect("has_sequence_privilege")
        .get(0);
    assert!(!sequence, "loader_role may use the ledger's sequence");
    // Every function of the schema loader_role may execute.
    let functions: Vec<String> = admin
        .query(
            "SELECT p.proname::text FROM pg_proc p
             WHERE p.pronamespace = 'loader'::regnamespace
               AND has_function_privilege('loader_role', p.oid, 'EXECUTE')
             ORDER BY 1",
            &[],
        )
        .await
        .expect("functions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        functions,
        [
            "loader_claim",
            "loader_complete",
            "loader_fail",
            "loader_file_rejects",
            "loader_identify"
        ]
    );
    // And every function of the schema is SECURITY DEFINER with a pinned
    // search_path, but for the dimensions' orders: IMMUTABLE SQL functions
    // that only build a row of their arguments, inlined into the owner's
    // statements (a SET clause or SECURITY DEFINER would stop that), which
    // no other role may execute.
    let loose: Vec<String> = admin
        .query(
            "SELECT p.proname::text FROM pg_proc p
             WHERE p.pronamespace = 'loader'::regnamespace
               AND (NOT p.prosecdef
                    OR NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))
             ORDER BY 1",
            &[],
        )
        .await
        .expect("definer functions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        loose,
        ["customer_newness", "product_newness", "store_newness"],
        "functions not pinned"
    );
    let executable: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_proc p
             WHERE p.proname IN ('customer_newness', 'product_newness', 'store_newness')
               AND p.pronamespace = 'loader'::regnamespace
               AND (p.provolatile <> 'i'
                    OR p.prolang <> (SELECT l.oid FROM pg_language l WHERE l.lanname = 'sql')
                    OR has_function_privilege('public', p.oid, 'EXECUTE'))",
            &[],
        )
        .await
        .expect("the orders' rights")
        .get(0);
    assert_eq!(
        executable, 0,
        "an order function is volatile, not SQL, or public"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadowing_operators_and_tables_cannot_redirect_the_definer_code() {
    let (db, mut admin, url) = db_with_roles("trust_shadow").await;
    // Roles are the cluster's: a failed earlier run of this test may have
    // left loader_role a superuser, which would fail the check below for
    // the wrong reason. No other test makes it one.
    admin
        .batch_execute("ALTER ROLE loader_role NOSUPERUSER")
        .await
        .expect("reset loader_role");
    // The default before PostgreSQL 15, and of every database upgraded
    // from one.
    admin
        .batch_execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        .await
        .expect("grant");
    let role = connect(&url).await;
    // Exact-type operators that would win over the built-in ones, each
    // backed by a function that logs its call and tries to make loader_role
    // a superuser (it succeeds when whoever calls it is one):
    // `numeric >= integer` and `smallint >= integer` (the weekend test),
    // `oid = regclass` (a relation check), `bigint || text` (verify.sql's
    // `count(*) || ' rows'` report lines).
    let mut attack = String::from(
        "CREATE TABLE public.attack_log (at timestamptz, who text);
         GRANT INSERT ON public.attack_log TO PUBLIC;",
    );
    for (function, op, left, right, returns, result) in [
        (
            "evil_ge",
            ">=",
            "numeric",
            "integer",
            "boolean",
            "$1 >= $2::numeric",
        ),
        (
            "evil_ge2",
            ">=",
            "smallint",
            "integer",
            "boolean",
            "$1::integer >= $2",
        ),
        ("evil_eq", "=", "oid", "regclass", "boolean", "$1 = $2::oid"),
        ("evil_cat", "||", "bigint", "text", "text", "$1::text || $2"),
    ] {
        attack.push_str(&format!(
            "CREATE FUNCTION public.{function}({left}, {right}) RETURNS {returns}
             LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO public.attack_log VALUES (now(), current_user);
                 BEGIN
                     EXECUTE 'ALTER ROLE loader_role SUPERUSER';
                 EXCEPTION WHEN OTHERS THEN NULL;
                 END;
                 RETURN {result};
             END $$;
             CREATE OPERATOR public.{op} (LEFTARG = {left}, RIGHTARG = {right},
                                          FUNCTION = public.{function});"
        ));
    }
    role.batch_execute(&attack)
        .await
        .expect("loader_role creates its shadowing objects");

    // A normal load by loader_role, through the library.
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec {
        rows: 2_000,
        ..Spec::default()
    };
    let summary = generate_into(dir.path(), &spec).await;
    let mut loader = loader::Loader::new(
        loader::Db::new(loader::DbConfig::from_url(&url).expect("url")),
        None,
        test_options(),
    );
    let report = loader
        .load(&Source::File(dir.path().join(&summary.files[0].file)))
        .await
        .expect("the loader role loads");
    assert_eq!(report.outcome, Outcome::Loaded);

    // A session with temporary tables named like the real ones, running
    // the protocol by hand.
    role.batch_execute(
        "CREATE TEMP TABLE facts (transaction_id text, transaction_date date,
             transaction_time time, store_id smallint, product_id integer, customer_id integer,
             payment_method text, quantity_sold smallint, total_amount numeric, load_id bigint);
         CREATE TEMP TABLE load_ledger (load_id bigint, bucket text, object_key text, etag text,
             version_id text, status text, attempts integer, rows_loaded bigint,
             facts_inserted bigint, claimed_by xid8);
         CREATE TEMP TABLE dim_stores (store_id smallint, store_name text, store_location text);
         CREATE TEMP TABLE dim_dates (date date, is_weekend boolean);",
    )
    .await
    .expect("temp tables");
    role.batch_execute(&format!(
        "BEGIN;
         CREATE TEMP TABLE claim AS SELECT * FROM loader.loader_claim('hand', 'shadow.csv', 'e1', NULL);
         INSERT INTO public.staging_table ({COLUMNS}, load_id)
         SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;
         SELECT loader.loader_complete(load_id, 0, 0) FROM claim;
         COMMIT;",
        row("SHADOW-1", "2024-06-01", 90, 900, 9000, "Shadow")
    ))
    .await
    .expect("hand protocol");
    let temp_rows: i64 = role
        .query_one(
            "SELECT (SELECT count(*) FROM pg_temp.facts) + (SELECT count(*) FROM pg_temp.load_ledger)
                  + (SELECT count(*) FROM pg_temp.dim_stores) + (SELECT count(*) FROM pg_temp.dim_dates)",
            &[],
        )
        .await
        .expect("temp counts")
        .get(0);
    assert_eq!(temp_rows, 0, "the definer code wrote into temporary tables");

    let superuser: bool = admin
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'loader_role'",
            &[],
        )
        .await
        .expect("role")
        .get(0);
    assert!(!superuser, "loader_role became a superuser");
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.attack_log").await,
        0,
        "a shadowing operator ran"
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM facts").await,
        2_001,
        "both loads landed in the real tables"
    );
    // 2024-06-01 is a Saturday: the weekend test used the real operator.
    let weekend: bool = admin
        .query_one(
            "SELECT is_weekend FROM dim_dates WHERE date = '2024-06-01'",
            &[],
        )
        .await
        .expect("date row")
        .get(0);
    assert!(weekend);
    // The owner's own SQL runs in its session, with public on its
    // search_path: `loader init`, `loader verify` and `loader prune` run
    // as usual (nothing refuses because another role created something),
    // and none of the shadowing code fires: each pins its search_path
    // first.
    loader::schema::init(&mut admin)
        .await
        .expect("loader init runs beside other roles' objects");
    assert_verified(&admin).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["prune", "--older-than", "1s"])
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run loader prune");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loader prune: {stderr}");
    // The same files run by hand with psql, as their headers say.
    for file in [
        "db_initiation.sql",
        "db_transformation.sql",
        "roles.sql",
        "verify.sql",
    ] {
        let out = standins::psql_command(db.url())
            .expect("psql")
            .args(["-v", "ON_ERROR_STOP=1", "-f"])
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../sql")
                    .join(file),
            )
            .output()
            .expect("run psql");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "psql -f {file}: {stderr}");
    }
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.attack_log").await,
        0,
        "a shadowing operator ran in the owner's session"
    );
    admin
        .batch_execute(
            "DROP FUNCTION public.evil_ge, public.evil_eq, public.evil_ge2, public.evil_cat CASCADE;
             ALTER ROLE loader_role NOSUPERUSER;
             DROP TABLE public.attack_log;",
        )
        .await
        .expect("drop the shadowing objects");
    loader::schema::init(&mut admin)
        .await
        .expect("init runs again");
    assert_verified(&admin).await;
    drop(role);
    drop(db);
}

/// Session settings are the client's to set: none of them may change what
/// the definer code writes, and no setting is a control channel. A load by the protocol and a hand load, from a
/// session that sets every user-settable parameter a SQL text could depend
/// on to an unusual value, give the star schema and ledger the same rows
/// would give anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_session_settings_change_nothing_but_what_is_staged() {
    let (_db, admin, url) = db_with_roles("trust_settings").await;
    let role = connect(&url).await;
    role.batch_execute(
        "SET search_path = public, pg_catalog;
         SET standard_conforming_strings = off;
         SET transform_null_equals = on;
         SET array_nulls = off;
         SET quote_all_identifiers = on;
         SET DateStyle = 'SQL, DMY';
         SET IntervalStyle = sql_standard;
         SET TimeZone = 'Pacific/Kiritimati';
         SET bytea_output = escape;
         SET extra_float_digits = -15;
         SET work_mem = '64kB';
         SET enable_hashagg = off;
         SET enable_sort = off;
         SET jit = on;
         SET jit_above_cost = 0;
         SET plpgsql.check_asserts = off;
         SET default_transaction_isolation = 'repeatable read';
         -- The previous release's control channel: settings that once
         -- switched the trigger between modes, and any a client may invent.
         SET loader.defer_dimensions = 'on';
         SET loader.whole_batch = 'off';
         SET loader.dimensions_pending = 'off';
         SET loader.facts_inserted = '0';
         SET loader.load_id = '1';",
    )
    .await
    .expect("a session may set these");
    role.batch_execute(&format!(
        "BEGIN;
         CREATE TEMP TABLE claim ON COMMIT DROP AS
             SELECT * FROM loader.loader_claim('b', 'settings.csv', 'etag-s', NULL);
         INSERT INTO staging_table ({COLUMNS}, load_id)
         SELECT v.*, c.load_id FROM (VALUES {}, {}) v, claim c;
         SELECT loader.loader_complete(load_id, 10, 1) FROM claim;
         COMMIT;
         INSERT INTO staging_table ({COLUMNS}) VALUES {};",
        row("SET-1", "2024-06-02", 7, 8, 9, "Newer"),
        row("SET-2", "2024-06-01", 7, 8, 9, "Older"),
        row("SET-3", "2024-05-01", 7, 8, 9, "Oldest"),
    ))
    .await
    .expect("a load by the protocol, then a hand load");
    let store: Vec<String> = admin
        .query_one(
            "SELECT ARRAY[store_name, store_city, store_state, source_ts::text, source_txn]
             FROM dim_stores WHERE store_id = 7",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .expect("store 7");
    assert_eq!(
        store,
        ["Newer", "Akron", "OH", "2024-06-02 12:00:00", "SET-1"]
    );
    let ledger: (String, i64, i64) = admin
        .query_one(
            "SELECT status, rows_loaded, facts_inserted FROM load_ledger
             WHERE object_key = 'settings.csv'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .expect("ledger row");
    assert_eq!(ledger, ("loaded".to_string(), 2, 2));
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM facts WHERE transaction_id LIKE 'SET-%'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM dim_dates
             WHERE date IN ('2024-06-02', '2024-06-01', '2024-05-01')
               AND is_weekend = (extract(isodow FROM date) >= 6)"
        )
        .await,
        3
    );
    assert_verified(&admin).await;
}

/// The attacked load's ledger figures: status, rows, rejects, facts.
async fn real_row(admin: &Client) -> (String, i64, i64, i64) {
    let r = admin
        .query_one(
            "SELECT status, rows_loaded, rows_rejected, facts_inserted
             FROM load_ledger WHERE object_key = 'real.csv'",
            &[],
        )
        .await
        .expect("ledger row");
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_and_the_star_schema_move_only_through_the_protocol() {
    let (_db, admin, url) = db_with_roles("trust_protocol").await;
    let role = connect(&url).await;
    let values = row("P-1", "2024-03-04", 1, 10, 100, "North");

    // A real load to attack.
    role.batch_execute(&format!(
        "BEGIN;
         CREATE TEMP TABLE claim ON COMMIT DROP AS
             SELECT * FROM loader.loader_claim('b', 'real.csv', 'etag-1', NULL);
         INSERT INTO staging_table ({COLUMNS}, load_id)
         SELECT v.*, c.load_id FROM (VALUES {values}) v, claim c;
         SELECT loader.loader_file_rejects(load_id, '{{7}}', '{{120}}', '{{store_id}}', '{{bad}}', '{{x}}', '{{NULL}}')
         FROM claim;
         SELECT loader.loader_complete(load_id, 10, 1) FROM claim;
         COMMIT;"
    ))
    .await
    .expect("a load by the protocol");
    let loaded: i64 = admin
        .query_one(
            "SELECT load_id FROM load_ledger WHERE object_key = 'real.csv' AND status = 'loaded'",
            &[],
        )
        .await
        .expect("the load is in the ledger")
        .get(0);
    assert_eq!(real_row(&admin).await, ("loaded".into(), 1, 1, 1));

    // Rejects that do not line up, or hold their record twice or not at
    // all, fail the load instead of being filed in part.
    for (rejects, why) in [
        (
            "'{7,8}', '{0}', '{x}', '{y}', '{z}', '{NULL}'",
            "one element per reject",
        ),
        (
            "'{7}', '{0}', '{x}', '{y}', '{z}', '{ab}'",
            "load_rejects_one_raw",
        ),
        (
            "'{7}', '{0}', '{x}', '{y}', '{NULL}', '{NULL}'",
            "load_rejects_one_raw",
        ),
        ("'{NULL}', '{0}', '{x}', '{y}', '{z}', '{NULL}'", "\"line\""),
    ] {
        let err = role
            .batch_execute(&format!(
                "BEGIN;
                 CREATE TEMP TABLE claim ON COMMIT DROP AS
                     SELECT * FROM loader.loader_claim('b', 'odd-rejects.csv', 'etag-1', NULL);
                 SELECT loader.loader_file_rejects(load_id, {rejects}) FROM claim;"
            ))
            .await
            .expect_err(why);
        role.batch_execute("ROLLBACK").await.expect("rollback");
        assert!(format!("{err:?}").contains(why), "{err:?}");
    }

    // Direct writes: refused by privilege.
    for sql in [
        "INSERT INTO load_ledger (bucket, object_key, etag, status) VALUES ('b', 'fake.csv', 'x', 'loaded')",
        "UPDATE load_ledger SET status = 'failed'",
        "DELETE FROM load_ledger",
        "INSERT INTO load_rejects VALUES (1, 1, NULL, 'r', 'x')",
        "SELECT * FROM load_ledger",
        "UPDATE dim_products SET product_price = 0.01",
        "INSERT INTO dim_stores (store_id, store_name, store_location, source_ts, source_txn) VALUES (99, 'x', 'y', '9999-01-01', 'Z')",
        "DELETE FROM facts",
        "TRUNCATE staging_table",
        "SELECT loader.normalize_staging_batch()",
        "SELECT nextval('load_ledger_load_id_seq')",
    ] {
        let err = role.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "42501", "{sql}: {err:?}");
    }

    // Through the functions, each forgery is refused or changes nothing.
    let refused = [
        // Staging rows under a load this transaction did not claim.
        format!(
            "INSERT INTO staging_table ({COLUMNS}, load_id) VALUES {}",
            row("F-1", "2024-03-05", 2, 20, 200, "Forged").replacen(
                ')',
                &format!(", {loaded})"),
                1
            )
        ),
        // Rejects and completion of someone else's load.
        format!(
            "SELECT loader.loader_file_rejects({loaded}, '{{1}}', '{{0}}', '{{x}}', '{{y}}', '{{z}}', '{{NULL}}')"
        ),
        format!("SELECT loader.loader_complete({loaded}, 0, 0)"),
        format!("SELECT loader.loader_identify({loaded}, 'other')"),
    ];
    for sql in &refused {
        let err = role.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "42501", "{sql}: {err:?}");
    }
    // A failure record never flips a loaded row.
    role.batch_execute(
        "SELECT loader.loader_fail('b', 'real.csv', 'etag-1', NULL, false, 'forged', 1, 0)",
    )
    .await
    .expect("loader_fail runs");
    assert_eq!(real_row(&admin).await, ("loaded".into(), 1, 1, 1));

    // One statement, two loads' rows: refused.
    let err = role
        .batch_execute(&format!(
            "BEGIN;
             CREATE TEMP TABLE claim ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('b', 'mixed.csv', 'm', NULL);
             INSERT INTO staging_table ({COLUMNS}, load_id)
             SELECT v.*, CASE WHEN v.column1 = 'M-1' THEN c.load_id END
             FROM (VALUES {}, {}) v, claim c;",
            row("M-1", "2024-03-05", 3, 30, 300, "Mixed"),
            row("M-2", "2024-03-05", 3, 30, 300, "Mixed")
        ))
        .await
        .expect_err("mixed load ids");
    assert_eq!(sqlstate(&err), "23514", "{err:?}");
    role.batch_execute("ROLLBACK").await.expect("rollback");

    // A claim, rows, and a COMMIT without loader_complete: refused at commit;
    // nothing of it stays. The old session setting changes nothing.
    let err = role
        .batch_execute(&format!(
            "BEGIN;
             SET LOCAL loader.defer_dimensions = 'on';
             CREATE TEMP TABLE claim ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('b', 'unfinished.csv', 'u', NULL);
             INSERT INTO staging_table ({COLUMNS}, load_id)
             SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;
             COMMIT;",
            row("U-1", "2024-03-06", 4, 40, 400, "Unfinished")
        ))
        .await
        .expect_err("commit of an unfinished claim");
    assert_eq!(sqlstate(&err), "23000", "{err:?}");
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM facts WHERE transaction_id = 'U-1'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM load_ledger WHERE object_key = 'unfinished.csv'"
        )
        .await,
        0
    );

    // Facts imply dimensions: a hand insert with the old "defer" setting
    // commits its dimension rows with its fact, in the same statement.
    role.batch_execute(&format!(
        "BEGIN;
         SET LOCAL loader.defer_dimensions = 'on';
         INSERT INTO staging_table ({COLUMNS}) VALUES {};
         COMMIT;",
        row("H-1", "2024-03-07", 5, 50, 500, "Hand")
    ))
    .await
    .expect("a hand insert by loader_role");
    for (table, key) in [
        ("dim_stores", "store_id = 5"),
        ("dim_products", "product_id = 50"),
        ("dim_customers", "customer_id = 500"),
        ("dim_dates", "date = '2024-03-07'"),
    ] {
        assert_eq!(
            count(&admin, &format!("SELECT count(*) FROM {table} WHERE {key}")).await,
            1,
            "{table}"
        );
    }
    // No table of dimension candidates to forge values through.
    let candidates: bool = admin
        .query_one(
            "SELECT to_regclass('staging_dimension_candidates') IS NULL",
            &[],
        )
        .await
        .expect("regclass")
        .get(0);
    assert!(candidates);
    assert_verified(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_objects_give_the_same_dimensions_in_either_order() {
    // One transaction id, one timestamp, different attributes in two
    // objects: the total order picks the same winner whichever loads first.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(
        &a,
        format!(
            "{HEADER}T-1,2024-05-01,10:00:00,5.00,Cash,1,Alpha,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"
        ),
    )
    .expect("write");
    std::fs::write(
        &b,
        format!(
            "{HEADER}T-1,2024-05-01,10:00:00,5.00,Card,1,Beta,Akron- OH,7,Tea,Drink,2.75,1,5,,M,\n"
        ),
    )
    .expect("write");
    let mut dumps = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let (db, pg) = fresh_db("trust_order").await;
        let mut loader = lib_loader(&db, None, test_options());
        for file in order {
            let report = loader
                .load(&Source::File(file.clone()))
                .await
                .expect("load");
            assert_eq!(report.outcome, Outcome::Loaded);
        }
        assert_verified(&pg).await;
        let dims: (String, String, Option<i16>, Option<String>) = {
            let r = pg
                .query_one(
                    "SELECT s.store_name, p.product_category, c.customer_age, c.customer_membership
                     FROM dim_stores s, dim_products p, dim_customers c
                     WHERE s.store_id = 1 AND p.product_id = 7 AND c.customer_id = 5",
                    &[],
                )
                .await
                .expect("dimensions");
            (r.get(0), r.get(1), r.get(2), r.get(3))
        };
        // Beta > Alpha, Food > Drink, NULL above any value.
        assert_eq!(dims, ("Beta".into(), "Food".into(), None, None));
        dumps.push(
            star_dump(&pg)
                .await
                .lines()
                .skip(1) // the fact: the first loaded copy, by design
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    assert_eq!(dumps[0], dumps[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_share_ids_in_opposite_orders_do_not_deadlock() {
    let (db, admin) = fresh_db("trust_deadlock").await;
    // The date exists already, so the two batches share no dimension row
    // to wait on; only their facts overlap.
    admin
        .batch_execute(&format!(
            "INSERT INTO staging_table ({COLUMNS}) VALUES {}",
            row("SEED", "2024-04-01", 1, 1, 1, "Seed")
        ))
        .await
        .expect("seed");
    let one = connect(db.url()).await;
    let two = connect(db.url()).await;
    // 1 takes D-1; 2 stages [D-2, D-1]; 1 stages [D-2]. In copy order, 2
    // would hold D-2 and wait for D-1 while 1 waits for D-2: a deadlock.
    // Under the facts lock, 2 waits for 1's commit before touching D-2.
    one.batch_execute(&format!(
        "BEGIN; INSERT INTO staging_table ({COLUMNS}) VALUES {}",
        row("D-1", "2024-04-01", 2, 2, 2, "One")
    ))
    .await
    .expect("one: D-1");
    let second = tokio::spawn(async move {
        two.batch_execute(&format!(
            "BEGIN; INSERT INTO staging_table ({COLUMNS}) VALUES {}, {}; COMMIT;",
            row("D-2", "2024-04-01", 3, 3, 3, "Two"),
            row("D-1", "2024-04-01", 3, 3, 3, "Two")
        ))
        .await
    });
    // Let the second batch reach its wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    one.batch_execute(&format!(
        "INSERT INTO staging_table ({COLUMNS}) VALUES {}; COMMIT;",
        row("D-2", "2024-04-01", 2, 2, 2, "One")
    ))
    .await
    .expect("one: D-2 and commit, no deadlock");
    second
        .await
        .expect("task")
        .expect("two commits, no deadlock");
    let facts: Vec<(String, i16)> = admin
        .query(
            "SELECT transaction_id, store_id FROM facts ORDER BY transaction_id",
            &[],
        )
        .await
        .expect("facts")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        facts,
        [("D-1".into(), 2), ("D-2".into(), 2), ("SEED".into(), 1)],
        "the first committed copy of each id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_objects_sharing_ids_load_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Four objects over one id range, each in another order.
    let spec = Spec {
        rows: 3_000,
        seed: 5,
        ..Spec::default()
    };
    let summary = generate_into(dir.path(), &spec).await;
    let original = std::fs::read_to_string(dir.path().join(&summary.files[0].file)).expect("read");
    let (header, body) = original.split_once('\n').expect("header");
    let lines: Vec<&str> = body.lines().collect();
    let mut files = Vec::new();
    for k in 0..4usize {
        let mut shuffled = lines.clone();
        shuffled.rotate_left(k * lines.len() / 4);
        if k % 2 == 1 {
            shuffled.reverse();
        }
        let path = dir.path().join(format!("shared-{k}.csv"));
        std::fs::write(&path, format!("{header}\n{}\n", shuffled.join("\n"))).expect("write");
        files.push(path);
    }
    let (db, pg) = fresh_db("trust_shared").await;
    let mut tasks = Vec::new();
    for file in files {
        let mut loader = lib_loader(&db, None, test_options());
        tasks.push(tokio::spawn(async move {
            loader.load(&Source::File(file)).await
        }));
    }
    let mut duplicates = 0;
    for task in tasks {
        let report = task.await.expect("task").expect("load");
        assert_eq!(report.outcome, Outcome::Loaded);
        duplicates += report.duplicates;
    }
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 3_000);
    assert_eq!(duplicates, 3 * 3_000);
    assert_verified(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_load_notifies_listeners_and_a_rolled_back_one_does_not() {
    let (db, admin) = fresh_db("trust_notify").await;
    let mut rx = listen(db.url()).await;

    // Rolled back: no notification.
    admin
        .batch_execute(&format!(
            "BEGIN;
             CREATE TEMP TABLE claim ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('b', 'rolled-back.csv', 'r', NULL);
             INSERT INTO staging_table ({COLUMNS}, load_id)
             SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;
             SELECT loader.loader_complete(load_id, 1, 1) FROM claim;
             ROLLBACK;",
            row("N-0", "2024-02-02", 1, 1, 1, "Gone")
        ))
        .await
        .expect("rolled back load");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notify.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}N-1,2024-02-02,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n\
             N-1,2024-02-02,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n\
             N-2,2024-02-02,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"
        ),
    )
    .expect("write");
    let mut loader = lib_loader(&db, None, test_options());
    let report = loader
        .load(&Source::File(file.clone()))
        .await
        .expect("load");
    let payload = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification within 10 s")
        .expect("channel open");
    // The payload is the load id alone (a hint: any role may NOTIFY this
    // channel); the outcome is the ledger's, read from the view a reader
    // role is granted.
    let load_id = report.load_id.expect("load id");
    assert_eq!(payload, load_id.to_string());
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS loader_test_reader;
             CREATE ROLE loader_test_reader;
             GRANT USAGE ON SCHEMA loader TO loader_test_reader;
             GRANT SELECT ON loader.load_outcomes TO loader_test_reader;",
        )
        .await
        .expect("a reader role");
    let reader = db.connect().await.expect("connect");
    reader
        .batch_execute("SET ROLE loader_test_reader")
        .await
        .expect("become the reader");
    let outcome = reader
        .query_one(
            "SELECT status, bucket, object_key, rows_loaded, facts_inserted, duplicates,
                    rows_rejected
             FROM loader.load_outcomes WHERE load_id = $1::text::bigint",
            &[&payload],
        )
        .await
        .expect("the reader sees the outcome");
    let seen: (String, String, String, i64, i64, i64, i64) = (
        outcome.get(0),
        outcome.get(1),
        outcome.get(2),
        outcome.get(3),
        outcome.get(4),
        outcome.get(5),
        outcome.get(6),
    );
    assert_eq!(
        seen,
        (
            "loaded".into(),
            "file".into(),
            file.display().to_string(),
            3,
            2,
            1,
            0
        )
    );
    // The reader reads the view, nothing else.
    let err = reader
        .query_one("SELECT count(*) FROM load_ledger", &[])
        .await
        .expect_err("the ledger itself");
    assert_eq!(sqlstate(&err), "42501");
    drop(reader);
    admin
        .batch_execute("DROP OWNED BY loader_test_reader; DROP ROLE loader_test_reader;")
        .await
        .expect("drop the reader");
    // Nothing else arrived: the rolled-back load sent nothing.
    assert!(rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_init_upgrades_the_previous_release_in_place() {
    let pg = standins::LocalPostgres::shared().expect("a PostgreSQL for tests");
    let db = pg.create_database("trust_upgrade").await.expect("database");
    let mut admin = db.connect().await.expect("connect");
    for sql in [
        include_str!("fixtures/schema_v1/db_initiation.sql"),
        include_str!("fixtures/schema_v1/db_transformation.sql"),
    ] {
        admin.batch_execute(sql).await.expect("previous release");
    }
    // Its data: a hand load, a loaded object, and the same local file
    // failed twice before its content was known.
    admin
        .batch_execute(&format!(
            "INSERT INTO staging_table ({COLUMNS}) VALUES {};
             INSERT INTO load_ledger (bucket, object_key, etag, status, rows_loaded, facts_inserted, duplicates)
                 VALUES ('b', 'old.csv', 'e', 'loaded', 0, 0, 0);
             INSERT INTO load_ledger (bucket, object_key, etag, status, attempts)
                 VALUES ('file', 'bad.csv', NULL, 'failed', 2), ('file', 'bad.csv', NULL, 'failed', 3);",
            row("OLD-1", "2024-01-01", 1, 1, 1, "Old")
        ))
        .await
        .expect("old data");
    // This loader refuses the old schema, and says what to do.
    let mut loader = lib_loader(&db, None, test_options());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("new.csv");
    std::fs::write(
        &file,
        format!("{HEADER}NEW-1,2024-01-02,10:00:00,5.00,Cash,1,New,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"),
    )
    .expect("write");
    let err = loader
        .load(&Source::File(file.clone()))
        .await
        .expect_err("old schema");
    assert!(err.to_string().contains("run `loader init`"), "{err}");
    assert!(err.to_string().contains("version 1"), "{err}");

    loader::schema::init(&mut admin).await.expect("upgrade");
    loader::schema::init(&mut admin).await.expect("and again");
    assert_eq!(
        count(&admin, "SELECT version::bigint FROM loader_schema").await,
        i64::from(loader::ledger::SCHEMA_VERSION)
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM facts").await,
        1,
        "data kept"
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &admin,
            "SELECT attempts::bigint FROM load_ledger WHERE object_key = 'bad.csv'"
        )
        .await,
        5,
        "repeated failures folded into one row"
    );
    let mut loader = lib_loader(&db, None, test_options());
    let report = loader
        .load(&Source::File(file))
        .await
        .expect("loads after the upgrade");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_eq!(count(&admin, "SELECT count(*) FROM facts").await, 2);
    assert_verified(&admin).await;
}

/// A live upgrade from version 3 (the protocol in public): `loader init`
/// keeps the data, the previous loader's calls then get a clear retryable
/// error (55006) instead of running old code, and the new loader loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_init_upgrades_version_3_and_old_clients_are_told_to_retry() {
    let pg = standins::LocalPostgres::shared().expect("a PostgreSQL for tests");
    let db = pg
        .create_database("trust_upgrade_v3")
        .await
        .expect("database");
    let mut admin = db.connect().await.expect("connect");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema_v3");
    for file in ["db_initiation.sql", "db_transformation.sql"] {
        let out = standins::psql_command(db.url())
            .expect("psql")
            .arg("-q")
            .arg("-f")
            .arg(fixtures.join(file))
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A load by version 3's protocol.
    admin
        .batch_execute(&format!(
            "BEGIN;
             CREATE TEMP TABLE claim ON COMMIT DROP AS
                 SELECT * FROM public.loader_claim('b', 'v3.csv', 'e3', NULL);
             INSERT INTO staging_table ({COLUMNS}, load_id)
             SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;
             SELECT public.loader_complete(load_id, 1, 1) FROM claim;
             COMMIT;",
            row("V3-1", "2024-01-01", 1, 1, 1, "Three")
        ))
        .await
        .expect("a version 3 load");

    loader::schema::init(&mut admin).await.expect("upgrade");
    assert_eq!(
        count(&admin, "SELECT version::bigint FROM public.loader_schema").await,
        i64::from(loader::ledger::SCHEMA_VERSION)
    );
    // The previous loader's first call.
    let err = admin
        .batch_execute("SELECT * FROM public.loader_claim('b', 'old-client.csv', 'e', NULL)")
        .await
        .expect_err("an old client's claim");
    assert_eq!(sqlstate(&err), "55006", "{err:?}");
    assert!(
        format!("{err:?}").contains("upgraded to version 4"),
        "{err:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("v4.csv");
    std::fs::write(
        &file,
        format!("{HEADER}V4-1,2024-01-02,10:00:00,5.00,Cash,1,Four,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"),
    )
    .expect("write");
    let report = lib_loader(&db, None, test_options())
        .load(&Source::File(file))
        .await
        .expect("loads after the upgrade");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_eq!(count(&admin, "SELECT count(*) FROM public.facts").await, 2);
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM public.dim_stores WHERE store_name = 'Four'"
        )
        .await,
        1
    );
    assert_verified(&admin).await;
}
