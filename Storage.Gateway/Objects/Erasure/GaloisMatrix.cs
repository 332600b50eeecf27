namespace Storage.Gateway.Objects.Erasure;

/// <summary>A small dense matrix over GF(2^8), row-major. Only built when a codec or a decode pattern is first used.</summary>
public sealed class GaloisMatrix
{
    private readonly byte[] _cells;

    public GaloisMatrix(int rows, int columns)
    {
        Rows = rows;
        Columns = columns;
        _cells = new byte[rows * columns];
    }

    public int Rows { get; }

    public int Columns { get; }

    public byte this[int row, int column]
    {
        get => _cells[(row * Columns) + column];
        set => _cells[(row * Columns) + column] = value;
    }

    public ReadOnlySpan<byte> Row(int row) => _cells.AsSpan(row * Columns, Columns);

    /// <summary>
    /// The systematic encoding matrix of klauspost/reedsolomon and Backblaze: a (data+parity)×data
    /// Vandermonde matrix multiplied by the inverse of its top square, so the top is the identity and any
    /// <paramref name="dataShards"/> rows are invertible.
    /// </summary>
    public static GaloisMatrix BuildSystematic(int dataShards, int totalShards)
    {
        var vandermonde = new GaloisMatrix(totalShards, dataShards);
        for (var r = 0; r < totalShards; r++)
        {
            for (var c = 0; c < dataShards; c++)
            {
                vandermonde[r, c] = GaloisField.Power((byte)r, c);
            }
        }

        var top = vandermonde.SelectRows(Enumerable.Range(0, dataShards).ToArray());
        return vandermonde.Multiply(top.Invert());
    }

    public GaloisMatrix SelectRows(IReadOnlyList<int> rows)
    {
        var result = new GaloisMatrix(rows.Count, Columns);
        for (var r = 0; r < rows.Count; r++)
        {
            Row(rows[r]).CopyTo(result._cells.AsSpan(r * Columns, Columns));
        }

        return result;
    }

    public GaloisMatrix Multiply(GaloisMatrix right)
    {
        if (Columns != right.Rows)
        {
            throw new ArgumentException($"Cannot multiply {Rows}x{Columns} by {right.Rows}x{right.Columns}.", nameof(right));
        }

        var result = new GaloisMatrix(Rows, right.Columns);
        for (var r = 0; r < Rows; r++)
        {
            for (var c = 0; c < right.Columns; c++)
            {
                byte sum = 0;
                for (var i = 0; i < Columns; i++)
                {
                    sum ^= GaloisField.Multiply(this[r, i], right[i, c]);
                }

                result[r, c] = sum;
            }
        }

        return result;
    }

    /// <summary>Gauss–Jordan elimination on [this | I].</summary>
    public GaloisMatrix Invert()
    {
        if (Rows != Columns)
        {
            throw new InvalidOperationException("Only square matrices can be inverted.");
        }

        var n = Rows;
        var work = new GaloisMatrix(n, 2 * n);
        for (var r = 0; r < n; r++)
        {
            Row(r).CopyTo(work._cells.AsSpan(r * 2 * n, n));
            work[r, n + r] = 1;
        }

        for (var column = 0; column < n; column++)
        {
            var pivot = column;
            while (pivot < n && work[pivot, column] == 0)
            {
                pivot++;
            }

            if (pivot == n)
            {
                throw new InvalidOperationException("The matrix is singular.");
            }

            work.SwapRows(pivot, column);
            var scale = GaloisField.Inverse(work[column, column]);
            for (var c = 0; c < 2 * n; c++)
            {
                work[column, c] = GaloisField.Multiply(work[column, c], scale);
            }

            for (var r = 0; r < n; r++)
            {
                var factor = work[r, column];
                if (r == column || factor == 0)
                {
                    continue;
                }

                for (var c = 0; c < 2 * n; c++)
                {
                    work[r, c] ^= GaloisField.Multiply(factor, work[column, c]);
                }
            }
        }

        var inverse = new GaloisMatrix(n, n);
        for (var r = 0; r < n; r++)
        {
            work._cells.AsSpan((r * 2 * n) + n, n).CopyTo(inverse._cells.AsSpan(r * n, n));
        }

        return inverse;
    }

    private void SwapRows(int a, int b)
    {
        if (a == b)
        {
            return;
        }

        Span<byte> temp = stackalloc byte[Columns];
        var rowA = _cells.AsSpan(a * Columns, Columns);
        var rowB = _cells.AsSpan(b * Columns, Columns);
        rowA.CopyTo(temp);
        rowB.CopyTo(rowA);
        temp.CopyTo(rowB);
    }
}
