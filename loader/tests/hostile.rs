//! Issue 29's findings, each run as the role that has the rights it needs
//! (CONNECT; loader_role; CREATE on public as PUBLIC had it before
//! PostgreSQL 15; CREATE on the database), asserting the database's state
//! afterwards: roles unchanged, no foreign code run, ledger and facts true,
//! the load or init done. The two races are driven by `pg_locks`, not
//! sleeps, 50 times each.

mod support;

use std::time::{Duration, Instant};

use loader::{Outcome, Source};
use standins::TestDb;
use support::*;
use tokio_postgres::Client;

fn row(id: &str, date: &str) -> String {
    format!(
        "('{id}', '{date}'::date, '12:00:00'::time, 9.50, 'Cash', 1, 'S', 'Akron- OH', \
         10, 'Tea', 'Food', 2.50, 1, 100, 40, 'F', 'Gold')"
    )
}

/// A database with the schema and roles, PUBLIC's CREATE on public back (as
/// before PostgreSQL 15), loader_role not a superuser, and an attack log
/// anyone may write; the admin client and loader_role's URL.
async fn hostile_db(prefix: &str) -> (TestDb, Client, String) {
    let (db, mut admin) = fresh_db(prefix).await;
    loader::schema::roles(&mut admin).await.expect("roles.sql");
    // Roles are the cluster's, shared by tests running at once: another
    // test's ALTER ROLE may collide ("tuple concurrently updated").
    for _ in 0..20 {
        if admin
            .batch_execute("ALTER ROLE loader_role NOSUPERUSER")
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin
        .batch_execute(
            "GRANT CREATE ON SCHEMA public TO PUBLIC;
             CREATE TABLE public.attack_log (at timestamptz, who text, what text);
             GRANT INSERT ON public.attack_log TO PUBLIC;",
        )
        .await
        .expect("setup");
    let url = db
        .url()
        .replacen("postgres://postgres@", "postgres://loader_role@", 1);
    (db, admin, url)
}

/// Plants, as the connected role, functions and operators that would win
/// over the built-in ones the owner's SQL uses, each logging its call and
/// trying to make loader_role a superuser (it succeeds when its caller is
/// one).
const PLANT: &str = "
CREATE FUNCTION public.evil(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.attack_log VALUES (clock_timestamp(), current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE loader_role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END $$;
CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('quote_ident'); RETURN pg_catalog.quote_ident($1::text); END $$;
CREATE FUNCTION public.to_regclass(name) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('to_regclass'); RETURN pg_catalog.to_regclass($1::text); END $$;
CREATE FUNCTION public.format(varchar, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('format'); RETURN pg_catalog.format($1::text, $2); END $$;
CREATE FUNCTION public.evil_cat(bigint, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('||'); RETURN $1::text || $2; END $$;
CREATE OPERATOR public.|| (LEFTARG = bigint, RIGHTARG = text, FUNCTION = public.evil_cat);
CREATE FUNCTION public.evil_eq(oid, regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('='); RETURN $1 = $2::oid; END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.evil_eq);
CREATE FUNCTION public.evil_ge(smallint, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.evil('>='); RETURN $1::integer >= $2; END $$;
CREATE OPERATOR public.>= (LEFTARG = smallint, RIGHTARG = integer, FUNCTION = public.evil_ge);
";

const UNPLANT: &str = "
DROP FUNCTION IF EXISTS public.evil(text), public.quote_ident(name), public.to_regclass(name),
    public.format(varchar, text), public.evil_cat(bigint, text), public.evil_eq(oid, regclass),
    public.evil_ge(smallint, integer) CASCADE;
";

/// Nothing of the attack ran and loader_role is still what it was.
async fn assert_no_foreign_code_ran(admin: &Client, what: &str) {
    let ran: Vec<String> = admin
        .query("SELECT what || ' as ' || who FROM public.attack_log", &[])
        .await
        .expect("attack log")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ran.is_empty(), "{what}: planted code ran: {ran:?}");
    let superuser: bool = admin
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'loader_role'",
            &[],
        )
        .await
        .expect("role")
        .get(0);
    assert!(!superuser, "{what}: loader_role became a superuser");
}

/// Polls `pg_locks` (as any role may) until `pid` waits for, or holds, a
/// lock matching `condition`; false when it ends first.
async fn until_locks(spy: &Client, pid: i32, condition: &str, done: impl Fn() -> bool) -> bool {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND {condition})");
    let give_up = Instant::now() + Duration::from_secs(20);
    while Instant::now() < give_up && !done() {
        let hit: bool = spy.query_one(&sql, &[&pid]).await.expect("pg_locks").get(0);
        if hit {
            return true;
        }
    }
    false
}

/// Finding 1: loader_role keeps a claim open, so init waits on the ledger;
/// while it waits (seen in pg_locks) the role plants its functions and
/// operators in public, then lets init go on. 50 times: no planted code
/// runs, every init completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_waiting_on_a_lock_runs_no_code_planted_meanwhile() {
    let (db, admin, url) = hostile_db("hostile_init_race").await;
    let role = connect(&url).await;
    let planter = connect(&url).await;
    for round in 0..50 {
        role.batch_execute("BEGIN; SELECT * FROM loader.loader_claim('b', 'held.csv', 'e', NULL);")
            .await
            .expect("an open claim");
        let mut owner = db.connect().await.expect("connect");
        let pid: i32 = owner
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        let init = tokio::spawn(async move { loader::schema::init(&mut owner).await });
        let waiting = until_locks(&planter, pid, "NOT granted", || init.is_finished()).await;
        assert!(
            waiting,
            "round {round}: init never waited on the open claim"
        );
        planter.batch_execute(PLANT).await.expect("plant");
        role.batch_execute("ROLLBACK")
            .await
            .expect("let init go on");
        init.await
            .expect("init task")
            .unwrap_or_else(|e| panic!("round {round}: init failed: {e}"));
        planter.batch_execute(UNPLANT).await.expect("unplant");
        assert_no_foreign_code_ran(&admin, &format!("init, round {round}")).await;
    }
    // The same with psql, as the files' headers say to run them (fewer
    // rounds: each starts a process).
    for round in 0..5 {
        role.batch_execute("BEGIN; SELECT * FROM loader.loader_claim('b', 'held.csv', 'e', NULL);")
            .await
            .expect("an open claim");
        let psql = standins::psql_command(db.url())
            .expect("psql")
            .args(["-q", "-v", "application_name=hostile_psql", "-f"])
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/db_initiation.sql"))
            .env("PGAPPNAME", "hostile_psql")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("psql");
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: bool = planter
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                                    WHERE a.application_name = 'hostile_psql' AND NOT l.granted)",
                    &[],
                )
                .await
                .expect("pg_locks")
                .get(0);
            if waiting {
                break;
            }
            assert!(Instant::now() < give_up, "psql round {round} never waited");
        }
        planter.batch_execute(PLANT).await.expect("plant");
        role.batch_execute("ROLLBACK")
            .await
            .expect("let psql go on");
        let status = tokio::task::spawn_blocking(move || psql.wait_with_output())
            .await
            .expect("join")
            .expect("psql ran");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        planter.batch_execute(UNPLANT).await.expect("unplant");
        assert_no_foreign_code_ran(&admin, &format!("psql init, round {round}")).await;
    }
    assert_verified(&admin).await;
}

/// Finding 2: a role polls pg_locks until verify's session holds its first
/// lock, then plants operators verify's report would use (`bigint || text`).
/// 50 times: no planted code runs, and verify's verdict is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_runs_no_code_planted_while_it_runs() {
    let (db, admin, url) = hostile_db("hostile_verify_race").await;
    admin
        .batch_execute(&format!(
            "INSERT INTO public.staging_table ({COLUMNS}) VALUES {}, {};",
            row("V-1", "2024-06-01"),
            row("V-2", "2024-06-02")
        ))
        .await
        .expect("a hand load");
    let planter = connect(&url).await;
    for round in 0..50 {
        let owner = db.connect().await.expect("connect");
        let pid: i32 = owner
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        let verify = tokio::spawn(async move { loader::schema::verify(&owner).await });
        // Its first lock on one of the tables, or the end.
        let _ = until_locks(&planter, pid, "relation = 'public.facts'::regclass", || {
            verify.is_finished()
        })
        .await;
        planter.batch_execute(PLANT).await.expect("plant");
        let checks = verify
            .await
            .expect("verify task")
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        planter.batch_execute(UNPLANT).await.expect("unplant");
        assert!(checks.iter().all(|c| c.ok), "round {round}: {checks:?}");
        assert_no_foreign_code_ran(&admin, &format!("verify, round {round}")).await;
    }
}

/// Finding 3: an overload of the protocol in public, and a schema named
/// after the connecting role (first on the default search_path) with its
/// own protocol and staging table, change nothing: the load runs the real
/// protocol into the real tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloads_and_a_schema_named_after_the_role_do_not_redirect_the_client() {
    let (db, mut admin, url) = hostile_db("hostile_redirect").await;
    admin
        .batch_execute(&format!(
            "GRANT CREATE ON DATABASE \"{}\" TO loader_role",
            db.name()
        ))
        .await
        .expect("grant");
    let role = connect(&url).await;
    role.batch_execute(
        "CREATE FUNCTION public.loader_claim(p_bucket text, p_key text, p_etag text,
             p_version_id text, x int DEFAULT 0, OUT load_id bigint, OUT claimed boolean)
         LANGUAGE sql AS $$ SELECT 1::bigint, true $$;
         CREATE SCHEMA loader_role;
         CREATE TABLE loader_role.staging_table (transaction_id text, load_id bigint);
         CREATE FUNCTION loader_role.loader_claim(p_bucket text, p_key text, p_etag text,
             p_version_id text, OUT load_id bigint, OUT claimed boolean)
         LANGUAGE sql AS $$ SELECT 424242::bigint, true $$;
         CREATE FUNCTION loader_role.set_config(text, text, boolean) RETURNS text
         LANGUAGE sql AS $$ INSERT INTO public.attack_log VALUES (now(), current_user, 'set_config')
                            RETURNING 'x' $$;",
    )
    .await
    .expect("the role's decoys");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("real.csv");
    std::fs::write(
        &file,
        format!("{HEADER}R-1,2024-06-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"),
    )
    .expect("write");
    let mut loader = loader::Loader::new(
        loader::Db::new(loader::DbConfig::from_url(&url).expect("url")),
        None,
        test_options(),
    );
    let report = loader
        .load(&Source::File(file))
        .await
        .expect("the load runs the real protocol");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM public.facts WHERE transaction_id = 'R-1'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM loader_role.staging_table").await,
        0
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM public.load_ledger WHERE status = 'loaded'"
        )
        .await,
        1
    );
    assert_no_foreign_code_ran(&admin, "a load by loader_role").await;
    // init, verify and prune as the owner, with the decoys still there.
    loader::schema::init(&mut admin).await.expect("init runs");
    assert_verified(&admin).await;
    assert_no_foreign_code_ran(&admin, "init and verify").await;
}

/// Finding 4: a role with nothing but CONNECT holds the advisory locks the
/// previous releases took (the staging table's oid, the init key) and every
/// other oid of the schema: init and a load go through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_locks_held_by_anyone_stop_nothing() {
    let (db, mut admin, _url) = hostile_db("hostile_advisory").await;
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loader_test_connect_only') THEN
                     CREATE ROLE loader_test_connect_only LOGIN;
                 END IF;
             END $$;
             GRANT CONNECT ON DATABASE \"{}\" TO loader_test_connect_only;",
            db.name()
        ))
        .await
        .expect("role");
    let squatter = connect(&db.url().replacen(
        "postgres://postgres@",
        "postgres://loader_test_connect_only@",
        1,
    ))
    .await;
    squatter
        .batch_execute(
            "SELECT pg_advisory_lock(c.oid::bigint) FROM pg_class c
             WHERE c.relnamespace IN ('public'::regnamespace, 'loader'::regnamespace);
             SELECT pg_advisory_lock(8243124858765094258);",
        )
        .await
        .expect("advisory locks");
    let started = Instant::now();
    loader::schema::init(&mut admin).await.expect("init");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.csv");
    std::fs::write(
        &file,
        format!("{HEADER}A-1,2024-06-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"),
    )
    .expect("write");
    let report = lib_loader(&db, None, test_options())
        .load(&Source::File(file))
        .await
        .expect("load");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "init and a load waited {:?}",
        started.elapsed()
    );
    assert_eq!(count(&admin, "SELECT count(*) FROM public.facts").await, 1);
}

/// Findings 5, 6, 7 and 10: the protocol's functions keep their state
/// machine whatever loader_role sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_refuses_calls_out_of_its_states() {
    let (_db, admin, url) = hostile_db("hostile_protocol").await;
    let role = connect(&url).await;

    // 5: attempts out of range are refused; the object stays loadable.
    for attempts in ["2147483647", "0", "-1"] {
        let err = role
            .batch_execute(&format!(
                "SELECT loader.loader_fail('b', 'k.csv', 'e', NULL, false, 'x', {attempts}, 0)"
            ))
            .await
            .expect_err(attempts);
        assert_eq!(sqlstate(&err), "22023", "{attempts}: {err:?}");
    }
    for _ in 0..3 {
        role.batch_execute(
            "SELECT loader.loader_fail('b', 'k.csv', 'e', NULL, false, 'x', 1000, 0)",
        )
        .await
        .expect("a failure in range");
    }
    role.batch_execute(&format!(
        "BEGIN;
         CREATE TEMP TABLE claim ON COMMIT DROP AS
             SELECT * FROM loader.loader_claim('b', 'k.csv', 'e', NULL);
         INSERT INTO public.staging_table ({COLUMNS}, load_id)
         SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;
         SELECT loader.loader_complete(load_id, 1, 1) FROM claim;
         COMMIT;",
        row("K-1", "2024-06-01")
    ))
    .await
    .expect("the object loads after its failures");
    assert_eq!(
        count(
            &admin,
            "SELECT attempts::bigint FROM public.load_ledger WHERE object_key = 'k.csv' AND status = 'loaded'"
        )
        .await,
        3001
    );

    // 7: a second claim of the same object in one transaction is refused,
    // and the first one's counts stay.
    role.batch_execute(&format!(
        "BEGIN;
         CREATE TEMP TABLE claim ON COMMIT DROP AS
             SELECT * FROM loader.loader_claim('b', 'twice.csv', 't', NULL);
         INSERT INTO public.staging_table ({COLUMNS}, load_id)
         SELECT v.*, c.load_id FROM (VALUES {}) v, claim c;",
        row("T-1", "2024-06-01")
    ))
    .await
    .expect("a claim and its rows");
    let err = role
        .batch_execute("SELECT * FROM loader.loader_claim('b', 'twice.csv', 't', NULL)")
        .await
        .expect_err("a second claim");
    assert_eq!(sqlstate(&err), "55000", "{err:?}");
    role.batch_execute("ROLLBACK").await.expect("rollback");
    for etag in ["NULL", "'t2'"] {
        role.batch_execute(&format!(
            "BEGIN; SELECT * FROM loader.loader_claim('b', 'twice2.csv', {etag}, NULL);"
        ))
        .await
        .expect("claim");
        let err = role
            .batch_execute(&format!(
                "SELECT * FROM loader.loader_claim('b', 'twice2.csv', {etag}, NULL)"
            ))
            .await
            .expect_err("a second claim");
        assert_eq!(sqlstate(&err), "55000", "{etag}: {err:?}");
        role.batch_execute("ROLLBACK").await.expect("rollback");
    }

    // 6: identify cannot fold away this transaction's own unfinished claim
    // of the same content (its staged rows would lose their ledger row).
    let err = role
        .batch_execute(&format!(
            "BEGIN;
             CREATE TEMP TABLE anon ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('file', 'f.csv', NULL, NULL);
             CREATE TEMP TABLE named ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('file', 'f.csv', 'h', NULL);
             INSERT INTO public.staging_table ({COLUMNS}, load_id)
             SELECT v.*, c.load_id FROM (VALUES {}) v, named c;
             SELECT * FROM loader.loader_identify((SELECT load_id FROM anon), 'h');",
            row("F-1", "2024-06-01")
        ))
        .await
        .expect_err("identify over an unfinished claim");
    assert_eq!(sqlstate(&err), "55000", "{err:?}");
    role.batch_execute("ROLLBACK").await.expect("rollback");

    // 10: one call files at most 1,000 rejects.
    let err = role
        .batch_execute(
            "BEGIN;
             CREATE TEMP TABLE claim ON COMMIT DROP AS
                 SELECT * FROM loader.loader_claim('b', 'many.csv', 'm', NULL);
             SELECT loader.loader_file_rejects(c.load_id, array_agg(g::bigint), array_agg(0::bigint),
                        array_agg('x'::text), array_agg('r'::text), array_agg('raw'::text),
                        array_agg(NULL::bytea))
             FROM claim c, generate_series(1, 1001) g GROUP BY c.load_id;",
        )
        .await
        .expect_err("1,001 rejects in one call");
    assert_eq!(sqlstate(&err), "54000", "{err:?}");
    role.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.facts").await,
        1,
        "only the completed load's fact"
    );
    assert_verified(&admin).await;
}

/// Finding 9: the date bound is the database's. loader_role cannot stage
/// a row dated 9999-12-31 or infinity by hand; and the loader applies the
/// database's bound where it is stricter than its own, so such a row is a
/// reject, not a refused batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_bounds_the_dates_whoever_stages_them() {
    let (db, admin, url) = hostile_db("hostile_dates").await;
    let role = connect(&url).await;
    for date in ["9999-12-31", "infinity", "1850-01-01"] {
        let err = role
            .batch_execute(&format!(
                "INSERT INTO public.staging_table ({COLUMNS}) VALUES {}",
                row("D-1", date)
            ))
            .await
            .expect_err(date);
        assert_eq!(sqlstate(&err), "23514", "{date}: {err:?}");
    }
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.dim_stores").await,
        0
    );

    admin
        .batch_execute("UPDATE loader.settings SET min_date = '2020-01-01'")
        .await
        .expect("the owner narrows the bound");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("old.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}O-1,2019-12-31,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n\
             O-2,2020-01-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"
        ),
    )
    .expect("write");
    let mut options = test_options();
    options.max_rejects = "1".parse().expect("max rejects");
    let mut loader = loader::Loader::new(
        loader::Db::new(loader::DbConfig::from_url(&url).expect("url")),
        None,
        options,
    );
    let report = loader
        .load(&Source::File(file))
        .await
        .expect("loads with one reject");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_eq!(report.rejected, 1);
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM public.load_rejects WHERE line = 2"
        )
        .await,
        1
    );
    assert_eq!(count(&admin, "SELECT count(*) FROM public.facts").await, 1);
    drop(db);
}

/// A claim held open by another session (loader_role keeping its
/// transaction): a delivery of the same object waits at most its
/// lock_timeout, fails as "being loaded by another session" naming the
/// holder, and is not recorded as a failure (the holder's load decides);
/// once the holder is gone it loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_held_elsewhere_is_a_retryable_wait_not_a_failure() {
    let (db, admin, url) = hostile_db("hostile_busy").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("busy.csv");
    let body = format!(
        "{HEADER}B-1,2024-06-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"
    );
    std::fs::write(&file, &body).expect("write");
    let key = std::fs::canonicalize(&file)
        .expect("path")
        .display()
        .to_string();
    let holder = connect(&url).await;
    holder
        .batch_execute("SET application_name = 'holding-claim'")
        .await
        .expect("name");
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM loader.loader_claim('file', '{}', NULL, NULL);",
            key.replace('\'', "''")
        ))
        .await
        .expect("hold a claim of the same file");
    let mut options = test_options();
    options.lock_timeout = Duration::from_millis(300);
    options.max_attempts = 2;
    let started = Instant::now();
    let err = loader::Loader::new(
        loader::Db::new(loader::DbConfig::from_url(&url).expect("url")),
        None,
        options,
    )
    .load(&Source::File(file.clone()))
    .await
    .expect_err("the claim is held elsewhere");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        err.being_loaded_elsewhere()
            && message.contains("being loaded by another session")
            && message.contains("holding-claim"),
        "{message}"
    );
    holder.batch_execute("ROLLBACK").await.expect("release");
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.load_ledger").await,
        0,
        "no failure recorded for a load that was another's to finish"
    );
    let report = lib_loader(&db, None, test_options())
        .load(&Source::File(file))
        .await
        .expect("loads once the holder is gone");
    assert_eq!(report.outcome, Outcome::Loaded);
}

/// Finding 8: any role with CONNECT can NOTIFY the channel with a payload
/// of its choosing; a consumer that reads the ledger's view finds no such
/// load, so the forgery changes nothing it acts on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_notification_names_no_load_in_the_ledger() {
    let (db, admin, url) = hostile_db("hostile_notify").await;
    let mut rx = listen(db.url()).await;
    let role = connect(&url).await;
    role.batch_execute("NOTIFY loader_loads, '424242'")
        .await
        .expect("anyone may notify");
    let payload = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the forged notification arrives")
        .expect("open");
    assert_eq!(payload, "424242");
    // The consumer's check, as the README shows it.
    let loaded = count(
        &admin,
        &format!(
            "SELECT count(*) FROM loader.load_outcomes WHERE load_id = {} AND status = 'loaded'",
            payload.parse::<i64>().expect("a number")
        ),
    )
    .await;
    assert_eq!(loaded, 0, "no such load");
}

/// `loader init` beside a transaction that holds the loader's tables (an
/// open claim) waits at most its --lock-timeout, then fails naming the
/// holder; once the holder is gone it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_waits_at_most_its_lock_timeout_and_names_the_holder() {
    let (db, _admin, url) = hostile_db("hostile_init_wait").await;
    let holder = connect(&url).await;
    holder
        .batch_execute(
            "SET application_name = 'long-load';
             BEGIN;
             SELECT * FROM loader.loader_claim('b', 'long.csv', 'e', NULL);",
        )
        .await
        .expect("an open claim");
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["init", "--lock-timeout", "500ms"])
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run loader init");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "init ran beside the open claim: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("init waited lock_timeout")
            && stderr.contains("public.load_ledger")
            && stderr.contains("long-load"),
        "{stderr}"
    );
    holder.batch_execute("ROLLBACK").await.expect("release");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["init", "--lock-timeout", "500ms"])
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run loader init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
