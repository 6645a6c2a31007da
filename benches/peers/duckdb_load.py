"""DuckDB's postgres extension, as its user would load a CSV into PostgreSQL:

    python duckdb_load.py LIBPQ_CONNINFO CSV_FILE TABLE

read_csv with the staging columns' types (so amounts stay exact decimals), INSERT into the
attached database's table; the extension writes it with COPY BINARY. The extension must be
installed for offline use (benches/peers/setup.sh does it).
"""

import sys

import duckdb

COLUMNS = {
    "transaction_id": "VARCHAR",
    "transaction_date": "DATE",
    "transaction_time": "TIME",
    "total_amount": "DECIMAL(15,2)",
    "payment_method": "VARCHAR",
    "store_id": "SMALLINT",
    "store_name": "VARCHAR",
    "store_location": "VARCHAR",
    "product_id": "INTEGER",
    "product_name": "VARCHAR",
    "product_category": "VARCHAR",
    "product_price": "DECIMAL(15,2)",
    "quantity_sold": "SMALLINT",
    "customer_id": "INTEGER",
    "customer_age": "SMALLINT",
    "customer_gender": "VARCHAR",
    "customer_membership": "VARCHAR",
}


def main() -> None:
    conninfo, csv_file, table = sys.argv[1:4]
    con = duckdb.connect()
    con.execute("LOAD postgres")
    con.execute(f"ATTACH '{conninfo}' AS pg (TYPE postgres)")
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items())
    names = ", ".join(COLUMNS)
    con.execute(
        f"INSERT INTO pg.public.{table} ({names}) "
        f"SELECT * FROM read_csv('{csv_file}', header = true, columns = {{{types}}})"
    )
    con.close()


if __name__ == "__main__":
    main()
