"""settle.engine: the pure core of Settle.

Arrow schemas, input readers and validation, member months, attribution, cost, risk, the
contract kinds, the ledger, statements and the synthetic claim-set generator.  Functions take
and return Arrow tables (or Polars frames) and plain typed values; nothing here knows about
Ray, HTTP or global state, so a notebook with a few Parquet files gets the same answer as a
cluster.
"""

__version__ = "0.1.0"
