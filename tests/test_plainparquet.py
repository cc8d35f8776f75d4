"""The state files' Parquet writer: `pytest tests/test_plainparquet.py`."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charnn.recording.plainparquet import PlainParquetWriter


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_pyarrow_pandas_and_duckdb_read_what_it_writes(tmp_path, dtype):
    rng = np.random.default_rng(0)
    columns = rng.standard_normal((20, 1000)).astype(dtype)  # (U, n)
    names = [f"u{u:04d}" for u in range(20)]
    path = tmp_path / "part-0.parquet"
    with PlainParquetWriter(path, names, dtype) as writer:
        writer.write_row_group(np.arange(0, 600), columns[:, :600])
        writer.write_row_group(np.arange(600, 1000), columns[:, 600:])
    pf = pq.ParquetFile(path)
    assert pf.num_row_groups == 2 and pf.metadata.num_rows == 1000
    assert pf.schema_arrow.field("u0003").type == pa.from_numpy_dtype(dtype)
    table = pf.read()
    assert table.column_names == ["pos", *names]
    assert np.array_equal(table.column("pos").to_numpy(), np.arange(1000))
    assert np.array_equal(table.column("u0007").to_numpy(), columns[7])
    stats = pf.metadata.row_group(1).column(0).statistics
    assert (stats.min, stats.max) == (600, 999)
    assert pq.read_table(path, filters=[("pos", ">=", 700)]).num_rows == 300
    assert pd.read_parquet(path, columns=["u0019"])["u0019"].to_numpy().tolist() == columns[19].tolist()
    [(total, mean)] = duckdb.sql(f"SELECT count(*), avg(u0003) FROM '{path}' WHERE pos >= 600").fetchall()
    assert total == 400 and mean == pytest.approx(columns[3, 600:].astype(np.float64).mean(), rel=1e-6)


def test_bad_shapes_and_a_failed_write_leave_no_valid_file(tmp_path):
    path = tmp_path / "x.parquet"
    with pytest.raises(ValueError, match="float16 or float32"):
        PlainParquetWriter(path, ["u0000"], np.int32)
    with pytest.raises(ValueError, match="expected"):
        with PlainParquetWriter(path, ["u0000", "u0001"], np.float16) as writer:
            writer.write_row_group(np.arange(5), np.zeros((3, 5), np.float16))
    with pytest.raises(pa.ArrowInvalid):  # no footer: not a Parquet file
        pq.ParquetFile(path)
