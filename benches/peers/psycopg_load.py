"""psycopg 3's COPY, as its user would stream a CSV file into PostgreSQL:

    python psycopg_load.py CONNINFO CSV_FILE TABLE
"""

import sys

import psycopg

COLUMNS = (
    "transaction_id, transaction_date, transaction_time, total_amount, payment_method, "
    "store_id, store_name, store_location, product_id, product_name, product_category, "
    "product_price, quantity_sold, customer_id, customer_age, customer_gender, "
    "customer_membership"
)


def main() -> None:
    conninfo, csv_file, table = sys.argv[1:4]
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        statement = f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)"
        with open(csv_file, "rb") as f, cur.copy(statement) as copy:
            while data := f.read(1 << 20):
                copy.write(data)


if __name__ == "__main__":
    main()
