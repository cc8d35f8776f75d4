"""State files (charnn/recording/statefile.py) and the recorder's copy into them (pack.py):
`pytest tests/test_statefile.py`."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from charnn.recording.pack import UnitStats, pack, top_k
from charnn.recording.statefile import ALIGN, StateFile, StateLayout


def written(path, layout: StateLayout, values: np.ndarray) -> StateFile:
    """A state file of `values` (width, rows), written through its views as the recorder does."""
    f = StateFile.create(path, layout)
    G, L = layout.full_groups, layout.segment
    f.groups[:] = values[:, :G * L].reshape(layout.width, G, L).transpose(1, 0, 2)
    if f.last is not None:
        f.last[:] = values[:, G * L:]
    f.finish()
    f.close()
    return StateFile.open(path, layout)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_pyarrow_pandas_and_duckdb_read_what_it_writes(tmp_path, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((21, 1000)).astype(dtype)  # (U, n): groups of 300 rows and a last one of 100
    path = tmp_path / "part-00000.parquet"
    layout = StateLayout(rows=1000, segment=300, width=21, dtype=dtype, start=5000)
    f = written(path, layout, values)
    assert f.groups.ctypes.data % ALIGN == 0 and f.groups.strides[1] % ALIGN == 0  # every unit's values aligned
    pf = pq.ParquetFile(path)
    assert pf.num_row_groups == 4 and pf.metadata.num_rows == 1000
    assert pf.schema_arrow.field("u0003").type == pa.from_numpy_dtype(np.dtype(dtype))
    table = pf.read()
    assert table.column_names == ["pos", *[f"u{u:04d}" for u in range(21)]]
    assert np.array_equal(table.column("pos").to_numpy(), np.arange(5000, 6000))
    for u in (0, 7, 20):
        assert np.array_equal(table.column(f"u{u:04d}").to_numpy(), values[u])
    stats = pf.metadata.row_group(1).column(0).statistics
    assert (stats.min, stats.max) == (5300, 5599) and not pf.metadata.row_group(1).column(5).is_stats_set
    assert pq.read_table(path, filters=[("pos", ">=", 5700)]).num_rows == 300
    assert pd.read_parquet(path, columns=["u0019"])["u0019"].to_numpy().tolist() == values[19].tolist()
    [(total, mean)] = duckdb.sql(f"SELECT count(*), avg(u0003) FROM '{path}' WHERE pos >= 5600").fetchall()
    assert total == 400 and mean == pytest.approx(values[3, 600:].astype(np.float64).mean(), rel=1e-6)
    np.testing.assert_array_equal(f.groups[2, 7], values[7, 600:900])  # read back in place
    np.testing.assert_array_equal(f.last, values[:, 900:])


def test_bytes_beyond_the_values_are_few():
    layout = StateLayout(rows=1 << 20, segment=4096, width=256, dtype="float16")
    assert layout.size <= 1.02 * (1 << 20) * 256 * 2  # headers, alignment and the footer: under 2%


def test_a_file_of_another_size_is_refused_by_name(tmp_path):
    layout = StateLayout(rows=100, segment=40, width=3, dtype="float16")
    path = tmp_path / "x.parquet"
    written(path, layout, np.zeros((3, 100), np.float16))
    with open(path, "r+b") as f:
        f.truncate(layout.size - 10)
    with pytest.raises(ValueError, match=r"x\.parquet has .* bytes where"):
        StateFile.open(path, layout)


def test_an_unfinished_file_is_not_parquet(tmp_path):
    """Values are written before the footer: a kill before finish() leaves no valid Parquet file."""
    f = StateFile.create(tmp_path / "y.parquet", StateLayout(rows=100, segment=40, width=3, dtype="float16"))
    f.close()
    with pytest.raises(pa.ArrowInvalid):
        pq.ParquetFile(tmp_path / "y.parquet")


def test_released_pages_keep_what_was_written(tmp_path):
    """release() drops the mapped pages (they count in the RSS); the values stay in the file."""
    layout = StateLayout(rows=5000, segment=1000, width=16, dtype="float16")
    f = StateFile.create(tmp_path / "z.parquet", layout)
    f.groups[:, :, :500] = 1.5
    f.release()
    f.groups[:, :, 500:] = -2.0
    f.finish()
    f.close()
    again = StateFile.open(tmp_path / "z.parquet", layout)
    assert (again.groups[:, :, :500] == 1.5).all() and (again.groups[:, :, 500:] == -2.0).all()


@pytest.mark.parametrize("native", ["1", "0"])
def test_top_k_gives_the_likeliest_ids_and_their_probabilities(monkeypatch, native):
    """The C loop and the torch fallback, into strided views of the recorder's (B, L, k) arrays; ties
    (a repeated value) go to the lower id."""
    monkeypatch.setenv("CHARNN_NATIVE", native)
    gen = torch.Generator().manual_seed(0)
    logp = torch.log_softmax(torch.randn(3, 7, 30, generator=gen) * 3, -1)
    logp[0, 0, 5] = logp[0, 0, 9] = logp[0, 0].max() + 1
    ids, p = np.zeros((5, 9, 4), np.int32), np.zeros((5, 9, 4), np.float32)
    top_k(logp, ids[1:4, 2:9], p[1:4, 2:9])
    order = np.argsort(-logp.numpy(), axis=-1, kind="stable")[..., :4]
    assert np.array_equal(ids[1:4, 2:9], order) and ids[0].sum() == ids[4].sum() == 0
    np.testing.assert_allclose(p[1:4, 2:9], np.take_along_axis(logp.exp().numpy(), order, -1), rtol=1e-6)
    assert list(ids[1, 2, :2]) == [5, 9]

@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_pack_copies_rounds_and_counts_like_numpy(monkeypatch, native, dtype):
    """The C kernel (16 x 16 blocks and their remainders) and the torch fallback: float16 rounded to
    nearest even as numpy rounds (overflow, subnormals), statistics of the values as stored."""
    monkeypatch.setenv("CHARNN_NATIVE", native)
    rng = np.random.default_rng(1)
    src = (rng.standard_normal((37, 5, 21)) * 2.0 ** rng.integers(-26, 12, (37, 5, 21))).astype(np.float32)
    src[0, 0, 0], src[1, 0, 1] = 7e4, 3e-7  # past float16's range; a float16 subnormal
    buf = np.zeros((5, 24, 40), dtype)
    dst = buf[:, :21, :37]  # (b, H, W) with room between units and streams, as in a file
    stats = UnitStats(21)
    with np.errstate(over="ignore"):
        expect = src.transpose(1, 2, 0).astype(dtype)
        pack(torch.from_numpy(src), dst, stats)
    bits = np.uint16 if dtype == np.float16 else np.uint32
    assert np.array_equal(np.ascontiguousarray(dst).view(bits), expect.view(bits))
    stored = expect.astype(np.float64)  # (b, H, W)
    np.testing.assert_array_equal(stats.lo, stored.min((0, 2)).astype(np.float32))
    np.testing.assert_array_equal(stats.hi, stored.max((0, 2)).astype(np.float32))
    finite = np.isfinite(stored).all((0, 2))
    np.testing.assert_allclose(stats.sum[finite], stored.sum((0, 2))[finite], rtol=1e-6)
    assert stats.n == 37 * 5
