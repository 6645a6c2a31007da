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
               x.kind OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) x.schema_name
                   OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) x.object_name
                   OPERATOR(pg_catalog.||) ' (owner ' OPERATOR(pg_catalog.||) x.owner
                   OPERATOR(pg_catalog.||) ')',
               ', ' ORDER BY x.kind, x.schema_name, x.object_name)
    INTO foreign_objects
    FROM (
        SELECT 'function'::pg_catalog.text AS kind, n.nspname::pg_catalog.text AS schema_name,
               p.proname::pg_catalog.text OPERATOR(pg_catalog.||) '('
                   OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid)
                   OPERATOR(pg_catalog.||) ')' AS object_name,
               r.rolname::pg_catalog.text AS owner
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
        JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) p.proowner
        WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
          AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
        UNION ALL
        SELECT 'operator', n.nspname::pg_catalog.text,
               o.oprname::pg_catalog.text OPERATOR(pg_catalog.||) '('
                   OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprleft, NULL)
                   OPERATOR(pg_catalog.||) ','
                   OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprright, NULL)
                   OPERATOR(pg_catalog.||) ')',
               r.rolname::pg_catalog.text
        FROM pg_catalog.pg_operator o
        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
        JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.oprowner
        WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
          AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
        UNION ALL
        SELECT 'relation', n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
               r.rolname::pg_catalog.text
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) c.relowner
        WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
          AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
    ) x;
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
