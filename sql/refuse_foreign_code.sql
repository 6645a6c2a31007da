-- The guard every other file here runs first (psql: \ir; the loader runs it
-- before `loader init` and `loader verify`).
--
-- These files run in the caller's session, as the schema's owner, with the
-- caller's search_path. Where another role may CREATE in a schema on that
-- path (PUBLIC in `public` on every database from before PostgreSQL 15),
-- that role can define an operator or function that matches an expression
-- here more exactly than the built-in one (`bigint || text` over
-- `anynonarray || text`, `oid = regclass`) and have it run with the owner's
-- rights. So nothing runs while a role that is neither the current one nor
-- a superuser owns a function, operator or relation in those schemas (an
-- extension's objects are its installer's). The guard names them all.
--
-- Itself it cannot be redirected: every operator and function in it is
-- named with its schema, and PL/pgSQL's own expressions here use none.

DO $refuse_foreign_code$
DECLARE
    foreign_objects text;
BEGIN
    SELECT pg_catalog.string_agg(
               x.kind OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) n.nspname
                   OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) x.object_name
                   OPERATOR(pg_catalog.||) ' (owner ' OPERATOR(pg_catalog.||) r.rolname
                   OPERATOR(pg_catalog.||) ')',
               ', ' ORDER BY x.kind, n.nspname, x.object_name)
    INTO foreign_objects
    FROM (
        SELECT 'function'::pg_catalog.text AS kind, p.pronamespace AS namespace,
               p.proowner AS owner,
               p.proname::pg_catalog.text OPERATOR(pg_catalog.||) '('
                   OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid)
                   OPERATOR(pg_catalog.||) ')' AS object_name
        FROM pg_catalog.pg_proc p
        UNION ALL
        SELECT 'operator', o.oprnamespace, o.oprowner,
               o.oprname::pg_catalog.text OPERATOR(pg_catalog.||) '('
                   OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprleft, NULL)
                   OPERATOR(pg_catalog.||) ','
                   OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprright, NULL)
                   OPERATOR(pg_catalog.||) ')'
        FROM pg_catalog.pg_operator o
        UNION ALL
        SELECT 'relation', c.relnamespace, c.relowner, c.relname::pg_catalog.text
        FROM pg_catalog.pg_class c
    ) x
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.namespace
    JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.owner
    WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
      AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER;
    IF foreign_objects IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.concat(
                'refuses to run: other roles own objects in the schemas its SQL resolves ',
                'names in, which could take it over with this role''s rights: ',
                foreign_objects,
                '. Drop them (and REVOKE CREATE ON SCHEMA public FROM PUBLIC, ',
                'PostgreSQL 15''s default) and run it again');
    END IF;
END
$refuse_foreign_code$;
