using Storage.Gateway.Objects.Erasure;

namespace Storage.Tests.Gateway.Erasure;

public class GaloisFieldTests
{
    [Fact]
    public void Tables_agree_with_bitwise_multiplication_for_every_pair()
    {
        for (var a = 0; a < 256; a++)
        {
            for (var b = 0; b < 256; b++)
            {
                var expected = GaloisField.MultiplySlow((byte)a, (byte)b);
                Assert.Equal(expected, GaloisField.Multiply((byte)a, (byte)b));
                Assert.Equal(expected, GaloisField.MultiplicationTable[(a << 8) | b]);
            }
        }
    }

    [Fact]
    public void Every_nonzero_element_has_an_inverse()
    {
        for (var a = 1; a < 256; a++)
        {
            Assert.Equal(1, GaloisField.Multiply((byte)a, GaloisField.Inverse((byte)a)));
        }
    }

    [Fact]
    public void Field_uses_polynomial_0x11D()
    {
        // x^7 · x = x^8 ≡ x^4 + x^3 + x^2 + 1 = 0x1D under 0x11D (it would be 0x1B under AES's 0x11B).
        Assert.Equal(0x1D, GaloisField.Multiply(0x80, 0x02));
    }

    [Theory]
    [InlineData(6, 2)]
    [InlineData(10, 4)]
    [InlineData(1, 2)]
    public void Systematic_matrix_has_identity_on_top_and_every_square_subset_invertible(int data, int parity)
    {
        var matrix = GaloisMatrix.BuildSystematic(data, data + parity);
        for (var r = 0; r < data; r++)
        {
            for (var c = 0; c < data; c++)
            {
                Assert.Equal(r == c ? 1 : 0, matrix[r, c]);
            }
        }

        foreach (var rows in Combinations.Of(data + parity, data).Take(2000))
        {
            var inverse = matrix.SelectRows(rows).Invert();
            var product = matrix.SelectRows(rows).Multiply(inverse);
            for (var r = 0; r < data; r++)
            {
                Assert.Equal(1, product[r, r]);
            }
        }
    }

    [Fact]
    public void One_data_shard_makes_parity_exact_copies()
    {
        var matrix = GaloisMatrix.BuildSystematic(1, 3);
        Assert.All(Enumerable.Range(0, 3), r => Assert.Equal(1, matrix[r, 0]));
    }
}

public static class Combinations
{
    public static IEnumerable<int[]> Of(int n, int k)
    {
        var indexes = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return (int[])indexes.Clone();
            var i = k - 1;
            while (i >= 0 && indexes[i] == n - k + i)
            {
                i--;
            }

            if (i < 0)
            {
                yield break;
            }

            indexes[i]++;
            for (var j = i + 1; j < k; j++)
            {
                indexes[j] = indexes[j - 1] + 1;
            }
        }
    }

    /// <summary>Every subset of 0..n-1 with at most <paramref name="maxSize"/> elements, the empty one included.</summary>
    public static IEnumerable<int[]> UpTo(int n, int maxSize) =>
        Enumerable.Range(0, maxSize + 1).SelectMany(size => size == 0 ? [[]] : Of(n, size));
}
